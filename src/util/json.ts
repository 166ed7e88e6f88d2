/** A plain JSON object (not null, not an array): what every parser of API and file bodies checks first. */
export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
