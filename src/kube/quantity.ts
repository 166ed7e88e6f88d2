// Kubernetes resource.Quantity, enough for memory and CPU values in specs and metrics.k8s.io.

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

/** The quantity's value as a number; undefined when it is not a valid Quantity string. */
export function parseQuantity(raw: string): number | undefined {
  const m = QUANTITY.exec(raw.trim());
  if (!m) return undefined;
  const [, sign, digits, suffix = ''] = m as unknown as [string, string, string, string | undefined];
  let factor: number | undefined;
  if (suffix in BINARY) factor = BINARY[suffix];
  else if (suffix in DECIMAL) factor = DECIMAL[suffix];
  else factor = 10 ** Number(suffix.slice(1));
  if (factor === undefined || !Number.isFinite(factor)) return undefined;
  const value = Number(digits) * factor * (sign === '-' ? -1 : 1);
  return Number.isFinite(value) ? value : undefined;
}

/** Memory in bytes (rounded up, as the apiserver does for sub-byte values). */
export function parseBytes(raw: string): number | undefined {
  const v = parseQuantity(raw);
  if (v === undefined || v < 0) return undefined;
  const bytes = Math.ceil(v - 1e-9) || 0;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** CPU in millicores. */
export function parseMillicores(raw: string): number | undefined {
  const v = parseQuantity(raw);
  if (v === undefined || v < 0) return undefined;
  return Math.ceil(v * 1000 - 1e-9);
}
