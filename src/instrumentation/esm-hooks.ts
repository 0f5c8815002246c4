// Registers the ES module hooks: import-in-the-middle (so instrumentations can wrap ES
// modules, limited to the modules they hook) with our lazy-loading marker in front of it and,
// while the role is undecided, the entry marker. In the process's own thread
// (module.registerHooks) wherever iitm's synchronous hooks work. Called by src/preload/undecided.ts.
import * as nodeModule from 'node:module';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { withEntryMarker, type LoadResult } from './esm-entry-hook.ts';
import { withLoadingMarker } from './esm-lazy-hook.ts';

const require = createRequire(import.meta.url);

interface IitmRegisterHooks {
  register(options: { include: string[] }): void;
  supportsSyncHooks(): boolean;
}

type SyncNextLoad = (url: string, context?: object) => LoadResult;
type SyncLoadHook = (
  url: string,
  context: object,
  nextLoad: SyncNextLoad
) => LoadResult;
// Dev note: `registerHooks` is read at run time (not a named import) so that this module
// still links on a Node without it; the preload never runs there (src/node-support.cts).
const registerHooks = nodeModule.registerHooks as
  ((hooks: { load: SyncLoadHook }) => unknown) | undefined;

// import-in-the-middle, resolved from @opentelemetry/instrumentation so that the hooks and the
// instrumentations share one copy.
function iitmFile(path: string): string {
  return createRequire(
    require.resolve('@opentelemetry/instrumentation')
  ).resolve(`import-in-the-middle/${path}`);
}

let syncHooks: boolean | undefined;
// Dev note: iitm's in-thread loader needs a Node whose sync load hook accepts the nullish
// CommonJS source it returns (22.22.3+, 24.11.1+, 26); iitm's own predicate decides. Older
// 22.x/24.x releases fall back to module.register (a loader thread; deprecated only on 26).
// Ref: https://nodejs.org/api/module.html#moduleregisterhooksoptions
function useSyncHooks(): boolean {
  if (syncHooks !== undefined) return syncHooks;
  syncHooks = false;
  if (typeof registerHooks !== 'function') return syncHooks;
  const { supportsSyncHooks } = require(
    iitmFile('supports-sync-hooks.mjs')
  ) as Pick<IitmRegisterHooks, 'supportsSyncHooks'>;
  syncHooks = supportsSyncHooks();
  return syncHooks;
}

let iitmRegistered = false;

/**
 * Registers import-in-the-middle's hook for `modules` only, once per process, with our lazy
 * loading marker chained in front of it.
 */
export function registerImportHook(modules: readonly string[]): void {
  if (iitmRegistered || modules.length === 0) return;
  iitmRegistered = true;
  const include = [...new Set(modules)];
  if (useSyncHooks() && registerHooks) {
    const iitm = require(iitmFile('register-hooks.mjs')) as IitmRegisterHooks;
    iitm.register({ include });
    // Registered after iitm, so it runs first and sees iitm's wrappers (hooks chain
    // last-in first).
    registerHooks({
      load: (url, context, nextLoad) =>
        withLoadingMarker(url, nextLoad(url, context)),
    });
    return;
  }
  nodeModule.register(pathToFileURL(iitmFile('hook.mjs')), {
    data: { include },
  });
  nodeModule.register(new URL('./esm-lazy-hook.js', import.meta.url));
}

/**
 * Registers the hook that appends the "entry evaluated" marker to `entryUrl` (and, on the
 * loader thread of older releases, puts the "API loading" marker in the API's ES module entry;
 * in-thread the resolve hook of load-hook.ts sees the API's import instead).
 */
export function registerEntryMarker(entryUrl: string): void {
  if (useSyncHooks() && registerHooks) {
    // Dev note: the entry is the first module its own graph loads: once it has been seen the
    // hook goes, so the app's other modules load without a load hook of ours in their way.
    const handle = registerHooks({
      load: (url, context, nextLoad) => {
        const result = nextLoad(url, context);
        if (url !== entryUrl) return result;
        (handle as { deregister?: () => void }).deregister?.();
        return withEntryMarker(url, result, entryUrl);
      },
    });
    return;
  }
  nodeModule.register(new URL('./esm-entry-hook.js', import.meta.url), {
    data: { entryUrl },
  });
}
