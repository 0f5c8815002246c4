// Node's CommonJS module cache (require.cache), for the two places that fill it by hand:
// shared-deps.ts (packages served from one bundle) and code-cache.ts (bundles compiled through
// vm.Script). Entries made here are what require() itself would have made.
import Module from 'node:module';
import { dirname } from 'node:path';

/** A require.cache entry. */
export interface CachedModule {
  filename: string;
  paths: string[];
  exports: unknown;
  loaded: boolean;
}

interface ModuleInternals {
  new (id: string, parent?: unknown): CachedModule;
  _cache: Record<string, CachedModule | undefined>;
  _nodeModulePaths(dir: string): string[];
}

const M = Module as unknown as ModuleInternals;

/** The require.cache entry of `file`, if it has been loaded. */
export function cachedModule(file: string): CachedModule | undefined {
  return M._cache[file];
}

/** A new, not yet loaded module for `file`, put in require.cache as require() would. */
export function addCachedModule(file: string): CachedModule {
  const mod = new M(file);
  mod.filename = file;
  mod.paths = M._nodeModulePaths(dirname(file));
  M._cache[file] = mod;
  return mod;
}

/** Takes `file` out of require.cache (its module failed to load). */
export function removeCachedModule(file: string): void {
  Reflect.deleteProperty(M._cache, file);
}
