declare const __KUBESONIC_VERSION__: string | undefined;

/** Set by the bundler from package.json; "dev" when run from source. */
export const VERSION: string = typeof __KUBESONIC_VERSION__ === 'string' ? __KUBESONIC_VERSION__ : 'dev';
