// Loads and enables the instrumentations the configuration names, one package each, resolved
// from @opentelemetry/auto-instrumentations-node (whose dependencies they are).
import { createRequire } from 'node:module';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { log } from './diag.ts';
import { INSTRUMENTATIONS } from './instrumentation-table.ts';

const require = createRequire(import.meta.url);

type InstrumentationClass = new (config?: object) => Instrumentation;

let fromAuto: NodeRequire | undefined;

/** Module names hooked by the named instrumentations (for the ESM loader's include list). */
export function hookedModules(names: readonly string[]): string[] {
  return INSTRUMENTATIONS.filter(e => names.includes(e.name)).flatMap(e => [
    ...e.modules,
  ]);
}

/**
 * Constructs (and so enables: instrumentations patch on construction) each named
 * instrumentation. A package that fails to load is reported in one line and skipped.
 */
export function loadInstrumentations(
  names: readonly string[]
): Instrumentation[] {
  const out: Instrumentation[] = [];
  for (const entry of INSTRUMENTATIONS) {
    if (!names.includes(entry.name)) continue;
    try {
      fromAuto ??= createRequire(
        require.resolve('@opentelemetry/auto-instrumentations-node')
      );
      const mod = fromAuto(entry.pkg) as Record<
        string,
        InstrumentationClass | undefined
      >;
      const Class = mod[entry.className];
      if (!Class)
        throw new Error(`${entry.pkg} does not export ${entry.className}`);
      out.push(new Class());
    } catch (err) {
      log.error(
        `instrumentation ${JSON.stringify(entry.name)} could not be loaded; continuing without it`,
        err
      );
    }
  }
  return out;
}
