// import() of a module named at run time (a custom operator, tsx, ajv's code generator), for code that the
// command bundles hold. A bundle runs through vm.Script with V8's code cache (engine/vendor/code-cache.ts),
// and there an import() fails once its function comes from the cache (Node 20 loses the script's import
// callback: "A dynamic import callback was not specified"), so the loader lends its own import as
// `__loflowImport`, a parameter of the bundle's wrapper like `require`. Everywhere else: import() itself.
declare const __loflowImport: ((specifier: string) => Promise<unknown>) | undefined;

export function importModule<M = Record<string, unknown>>(specifier: string): Promise<M> {
  return (typeof __loflowImport === 'function' ? __loflowImport(specifier) : import(specifier)) as Promise<M>;
}
