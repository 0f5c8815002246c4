// The module names the enabled instrumentations hook (for the ESM loader's include list).
// Loading the instrumentations themselves is lazy.ts's job.
import { INSTRUMENTATIONS } from './table.ts';

/** Module names hooked by the named instrumentations (for the ESM loader's include list). */
export function hookedModules(names: readonly string[]): string[] {
  return INSTRUMENTATIONS.filter(e => names.includes(e.name)).flatMap(e => [
    ...e.modules,
  ]);
}
