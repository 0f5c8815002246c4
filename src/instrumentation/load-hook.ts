// Sees each module the app requires before it loads, for lazy.ts: a resolve hook
// registered in-thread with module.registerHooks (Node 22.15+). Unlike a shim on Module._load it
// is not on the stack while a module runs, so the stack trace of an error thrown by a loading
// module is what it would be without us.
import * as nodeModule from 'node:module';
import { realpathSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the hook reports to, and asks, the lazy loader. */
export interface LoadHandlers {
  /** False once the loader stopped (the process became a primary): the hook passes through. */
  isActive(): boolean;
  /** True until @opentelemetry/api has been required once. */
  needsApi(): boolean;
  /** True until the main module has been seen. */
  needsMain(): boolean;
  /** A require of the API is about to load it. */
  onApiRequest(): void;
  /**
   * The main module is about to run: it runs synchronously from here, so a setImmediate
   * scheduled now comes after its first run.
   */
  onMainResolved(): void;
  /** A `require(request)` from `parentFile` is about to load a module. */
  beforeRequire(request: string, parentFile: string | undefined): void;
  /** An `import` resolved to `url`, of `format` when Node knows it. */
  afterImportResolved?(
    specifier: string,
    url: string,
    format: string | null | undefined
  ): void;
}

interface ResolveContext {
  parentURL?: string | undefined;
  conditions?: readonly string[];
}
interface ResolveResult {
  url: string;
  format?: string | null | undefined;
}
type NextResolve = (
  specifier: string,
  context?: ResolveContext
) => ResolveResult;
type ResolveHook = (
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve
) => ResolveResult;
type RegisterHooks = (hooks: { resolve: ResolveHook }) => {
  deregister?: () => void;
};

// The API's entry as a resolved URL or filename: API 1.10 is dist/index.cjs and, imported,
// dist/index.mjs; 1.9 and earlier, which apps may bring, build/src/index.js and build/esm/.
const API_INDEX =
  /[\\/]@opentelemetry[\\/]api[\\/](?:dist[\\/]index\.[cm]js|build[\\/](?:src|esm)[\\/]index\.js)$/;

function isApiRequest(specifier: string, resolved: string): boolean {
  return specifier === '@opentelemetry/api' || API_INDEX.test(resolved);
}

let mainPaths: Set<string> | undefined;
/** The main script's path as given and as resolved through symlinks. */
function isMainPath(path: string): boolean {
  if (mainPaths === undefined) {
    mainPaths = new Set();
    const script = process.argv[1];
    if (script !== undefined && script !== '') {
      const absolute = resolvePath(script);
      mainPaths.add(absolute);
      try {
        mainPaths.add(realpathSync(absolute));
      } catch {
        // not a file (yet): the plain path only
      }
    }
  }
  return mainPaths.has(path);
}

function fileOf(url: string | undefined): string | undefined {
  if (url === undefined || !url.startsWith('file:')) return undefined;
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

// Dev note: a resolve hook also runs for require.resolve(), which loads nothing; loading an
// instrumented package then would run its code where the app only asked where it is. The
// callers on the stack tell the two apart. Only asked once per instrumented package.
/** True when the resolution in progress is for a require() that loads, not require.resolve(). */
export function isModuleLoad(): boolean {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  let sites: NodeJS.CallSite[] = [];
  try {
    Error.stackTraceLimit = 16;
    Error.prepareStackTrace = (_err, callSites) => callSites;
    sites = new Error().stack as unknown as NodeJS.CallSite[];
  } catch {
    return true;
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
  for (const site of sites) {
    const file = site.getFileName() ?? '';
    if (!file.startsWith('node:internal/modules/')) continue;
    const name = site.getFunctionName() ?? site.getMethodName() ?? '';
    if (file === 'node:internal/modules/helpers' && name === 'resolve')
      return false;
    if (
      name === '_load' ||
      name.endsWith('._load') ||
      name === 'wrapModuleLoad'
    )
      return true;
  }
  return true;
}

function registerResolveHook(
  registerHooks: RegisterHooks,
  handlers: LoadHandlers
): () => void {
  // Dev note: this runs for every require() and import of the process; the common case is
  // the next hook's answer, two property reads and a Map lookup in beforeRequire.
  const hook: ResolveHook = (specifier, context, nextResolve) => {
    const result = nextResolve(specifier, context);
    if (!handlers.isActive()) return result;
    if (context.parentURL === undefined) {
      if (handlers.needsMain()) {
        const file = fileOf(result.url);
        if (file !== undefined && isMainPath(file)) handlers.onMainResolved();
      }
      return result;
    }
    // ES imports are seen through import-in-the-middle's wrappers (esm-lazy-hook.ts), or
    // here while the loader records.
    if (!context.conditions?.includes('require')) {
      // The API imported (a dual package: its ES module entry never meets the require path).
      if (handlers.needsApi() && isApiRequest(specifier, result.url))
        handlers.onApiRequest();
      else handlers.afterImportResolved?.(specifier, result.url, result.format);
      return result;
    }
    if (handlers.needsApi() && isApiRequest(specifier, result.url)) {
      // A require.resolve() of the API (src/loading/shared-deps.ts makes one) loads nothing.
      if (isModuleLoad()) handlers.onApiRequest();
    } else handlers.beforeRequire(specifier, fileOf(context.parentURL));
    return result;
  };
  const handle = registerHooks({ resolve: hook });
  return () => handle.deregister?.();
}

/**
 * Installs the hook, once per call; returns its removal. Never throws from the hook itself
 * beyond what resolution throws without it (a missing module).
 */
export function installLoadHook(handlers: LoadHandlers): () => void {
  // Dev note: the preload runs only where module.registerHooks exists (Node >= 22.15,
  // src/node-support.cts); there is no fallback shim on Module._load.
  return registerResolveHook(
    nodeModule.registerHooks as RegisterHooks,
    handlers
  );
}

/**
 * Calls `onFirst(name)` when the app first loads the built-in module `name` (`require` or
 * `import`, with or without `node:`), before it gets it: a patch applied then is in place for
 * the app's first use.
 * `onFirst` must not throw.
 */
// Dev note: node:cluster and node:child_process cost a one-line script ~10 ms to load; most
// short-lived processes never use them, and the patches for them are made when they do.
export function watchBuiltins(
  names: readonly string[],
  onFirst: (name: string) => void
): void {
  const registerHooks = nodeModule.registerHooks as RegisterHooks;
  const waiting = new Set(names.map(name => `node:${name}`));
  const hook: ResolveHook = (specifier, context, nextResolve) => {
    const result = nextResolve(specifier, context);
    if (waiting.has(result.url)) {
      waiting.delete(result.url);
      onFirst(result.url.slice('node:'.length));
      if (waiting.size === 0) handle.deregister?.();
    }
    return result;
  };
  const handle = registerHooks({ resolve: hook });
}

/**
 * Calls `run()` once, right before the first resolution of a specifier that starts with
 * `prefix` (by require or import), so that it can fill the module cache in time. `run` must
 * not throw.
 */
export function beforeFirstResolve(prefix: string, run: () => void): void {
  const registerHooks = nodeModule.registerHooks as RegisterHooks;
  let pending = true;
  const hook: ResolveHook = (specifier, context, nextResolve) => {
    if (pending && specifier.startsWith(prefix)) {
      pending = false;
      handle.deregister?.();
      run();
    }
    return nextResolve(specifier, context);
  };
  const handle = registerHooks({ resolve: hook });
}
