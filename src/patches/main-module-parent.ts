// Gives a CommonJS main module the `module.parent` Node gives it without a preload: null. Under
// `--import` (how the preload loads, also through NODE_OPTIONS) Node runs a CommonJS entry through
// its ES module loader, which leaves `module.parent` undefined, and apps test it
// (`if (!module.parent) listen()` works either way; `module.parent === null` does not).
// Called by src/preload/undecided.ts in the processes that run the app instrumented.
import { realpathSync } from 'node:fs';
import { Module } from 'node:module';
import { resolve } from 'node:path';

interface ModuleInternals {
  _cache: Record<string, unknown>;
}

// Dev note: the main module's `parent` can only be set once its Module object exists and before
// its code runs, and no hook of Node runs then. The one step in between is Node putting it in
// the module cache, an assignment: a setter on that one key of the cache sees it, turns back
// into a plain entry at once, and is not on the stack while the module runs.
function hasPendingDeprecation(): boolean {
  const flag = '--pending-deprecation';
  return (
    process.execArgv.includes(flag) ||
    (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(flag) ||
    process.env.NODE_PENDING_DEPRECATION === '1'
  );
}

/** Runs `work` with deprecation warnings off, putting the flag back as it was. */
function quietly(work: () => void): void {
  if (process.noDeprecation === true) {
    work();
    return;
  }
  const had = Object.prototype.hasOwnProperty.call(process, 'noDeprecation');
  const was = process.noDeprecation;
  process.noDeprecation = true;
  try {
    work();
  } finally {
    if (had && was !== undefined) process.noDeprecation = was;
    else Reflect.deleteProperty(process, 'noDeprecation');
  }
}

/** Arranges for the main module (`script`) to get `module.parent === null`. Never throws. */
export function keepMainModuleParentNull(script: string | undefined): void {
  if (script === undefined || script === '') return;
  // Dev note: under --pending-deprecation `parent` warns once per process, on its first use,
  // whoever makes it: ours would take the app's warning away. There the parent is left as
  // Node's ES loader made it (undefined, as under any --import).
  if (hasPendingDeprecation()) return;
  try {
    const cache = (Module as unknown as ModuleInternals)._cache;
    const file = realpathSync(resolve(script));
    if (Object.prototype.hasOwnProperty.call(cache, file)) return;
    const parent = Object.getOwnPropertyDescriptor(Module.prototype, 'parent');
    if (typeof parent?.get !== 'function' || typeof parent.set !== 'function')
      return;
    Object.defineProperty(cache, file, {
      configurable: true,
      enumerable: false,
      get: () => undefined,
      set(module: unknown) {
        Object.defineProperty(cache, file, {
          value: module,
          writable: true,
          enumerable: true,
          configurable: true,
        });
        // Dev note: `parent` is a pending deprecation (DEP0144), quiet here: with
        // noDeprecation set nothing is printed should it warn. Under --no-deprecation the flag
        // is already set (and read-only).
        try {
          quietly(() => {
            if (parent.get!.call(module) === undefined)
              parent.set!.call(module, null);
          });
        } catch {
          // not a Module after all: leave it as it is
        }
      },
    });
  } catch {
    // no such file (yet): Node will say so itself
  }
}
