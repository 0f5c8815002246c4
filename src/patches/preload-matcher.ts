// "Is this --import/--require value our preload?": the one answer the fork patch, the
// child-process patch and otel-launch share, so that none adds the preload twice.
import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A matcher for `registerUrl` (the file URL of our register.js): true for the package's
 * specifier, and for our doors by URL, absolute or relative path, or through a link. The doors
 * are register.js (--import), register.cjs (--require) and, in the agent directory
 * (scripts/build-agent.mjs), the two autoinstrumentation files the Operator and the Injector
 * name. Another copy of the package elsewhere on disk is not recognised: the preload's own
 * double-load guard then keeps one SDK per process. Never throws.
 */
export function createPreloadMatcher(
  registerUrl: string
): (specifier: string) => boolean {
  const doors = new Set<string>();
  const self = fileURLToPath(registerUrl);
  for (const path of [
    self,
    self.replace(/\.js$/, '.cjs'),
    join(dirname(self), '..', 'autoinstrumentation.js'),
    join(dirname(self), '..', 'autoinstrumentation.mjs'),
  ]) {
    doors.add(path);
    try {
      doors.add(realpathSync(path));
    } catch {
      // keep the plain path
    }
  }
  return specifier => {
    if (specifier === 'otel-forksafe/register' || specifier === registerUrl)
      return true;
    try {
      const path = specifier.startsWith('file:')
        ? fileURLToPath(specifier)
        : isAbsolute(specifier) || specifier.startsWith('.')
          ? resolve(specifier)
          : undefined;
      if (path === undefined) return false;
      return doors.has(path) || doors.has(realpathSync(path));
    } catch {
      return false;
    }
  };
}
