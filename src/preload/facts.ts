// What the preload learns about its process before anything else: the main script(s), whether
// a main module will run and whether it is an ES module. Read once by src/preload/dispatch.ts.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Node options under which argv[1] (if any) is an argument of inline code, not a main module.
const NO_MAIN_FLAGS = new Set([
  '-e',
  '--eval',
  '-p',
  '--print',
  '-i',
  '--interactive',
]);

/** Whether Node will load a main module from a file after the preloads. */
export function hasMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined || script === '' || script === '-') return false;
  return !process.execArgv.some(a => NO_MAIN_FLAGS.has(a.split('=')[0]!));
}

/** process.argv[1] and, when it is a link, its real path. */
export function mainScripts(): string[] {
  const script = process.argv[1];
  if (script === undefined || script === '') return [];
  try {
    const real = realpathSync(script);
    return real === script ? [script] : [script, real];
  } catch {
    return [script];
  }
}

/**
 * The main module's file URL when it is an ES module (.mjs, or .js under `"type": "module"`).
 * Dev note: Node evaluates an ES module entry after the preload's first macrotasks may have
 * run, so its end is signalled by a marker (src/instrumentation/esm-entry-hook.ts).
 */
export function esmEntryUrl(scripts: readonly string[]): string | undefined {
  const real = scripts[scripts.length - 1];
  if (real === undefined || !existsSync(real)) return undefined;
  const ext = extname(real);
  if (ext === '.mjs') return pathToFileURL(real).href;
  if (ext !== '.js') return undefined;
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const type = (
          JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }
        ).type;
        return type === 'module' ? pathToFileURL(real).href : undefined;
      } catch {
        return undefined;
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}
