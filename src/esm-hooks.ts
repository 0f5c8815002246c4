// Registers the ESM loader hooks: import-in-the-middle (so instrumentations can wrap ES
// modules, limited to the modules they hook) with our lazy-loading marker in front of it and,
// while the role is undecided, the entry marker.
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
let iitmRegistered = false;

/**
 * Registers import-in-the-middle's hook for `modules` only, once per process. It is resolved
 * from @opentelemetry/instrumentation so that the hook and the instrumentations share one copy.
 */
export function registerImportHook(modules: readonly string[]): void {
  if (iitmRegistered || modules.length === 0) return;
  iitmRegistered = true;
  const fromInstrumentation = createRequire(
    require.resolve('@opentelemetry/instrumentation')
  );
  const hookUrl = pathToFileURL(
    fromInstrumentation.resolve('import-in-the-middle/hook.mjs')
  );
  register(hookUrl, { data: { include: [...new Set(modules)] } });
  // Registered after iitm, so it runs first and sees iitm's wrappers (hooks chain last-in first).
  register(new URL('./esm-lazy-hook.js', import.meta.url));
}

/** Registers the hook that appends the "entry evaluated" marker to `entryUrl`. */
export function registerEntryMarker(entryUrl: string): void {
  register(new URL('./esm-entry-hook.js', import.meta.url), {
    data: { entryUrl },
  });
}
