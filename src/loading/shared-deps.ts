// Serves the four OpenTelemetry packages that every instrumentation shares (API, core,
// instrumentation base, semantic conventions) from one pre-built file. Called by
// src/preload/dispatch.ts in a cluster worker, before any of them is loaded.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from '../diag.ts';
import { addCachedModule, cachedModule } from './module-cache.ts';

const require = createRequire(import.meta.url);

// The same list as SHARED in scripts/bundle.mjs.
const SHARED = [
  '@opentelemetry/api',
  '@opentelemetry/core',
  '@opentelemetry/instrumentation',
  '@opentelemetry/semantic-conventions',
] as const;

interface DepsBundle {
  readonly versions: Readonly<Record<string, string>>;
  readonly packages: Readonly<Record<string, unknown>>;
}

/** The installed version of the package whose entry file is `main`, or undefined. */
function installedVersion(name: string, main: string): string | undefined {
  const at = main.lastIndexOf(`${join('node_modules', name)}`);
  if (at < 0) return undefined;
  const pkg = join(main.slice(0, at), 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string })
    .version;
}

/**
 * Loads dist/src/loading/otel-deps.bundle.cjs (next to this module) and puts each package it holds in
 * require.cache under the file name `require` resolves it to from here, when the installed
 * copy there has the version that was bundled. Every later `require` of that file (from the
 * SDK, the instrumentations or the app) then gets the bundled exports: still one instance per
 * package in the process. Returns the names served. Never throws.
 */
// Dev note: ~110 small files cost a worker ~65 ms of CPU to read and compile, one file ~25 ms.
// Only a worker does this: it needs all four at once, while a primary needs none of them and
// an undecided process may have loaded the API from its own files before it knows its role.
export function preloadSharedDeps(
  bundleUrl: URL,
  load: (file: string) => unknown = file => require(file)
): string[] {
  try {
    const file = fileURLToPath(bundleUrl);
    if (!existsSync(file)) return [];
    const mains = SHARED.map(name => [name, require.resolve(name)] as const);
    // All or none: a copy already loaded from its files, or another version installed, would
    // leave two instances of what must be one (the bundled base with a different API).
    if (mains.some(([, main]) => cachedModule(main) !== undefined)) return [];
    const bundle = load(file) as DepsBundle;
    if (
      mains.some(
        ([name, main]) =>
          bundle.versions[name] === undefined ||
          installedVersion(name, main) !== bundle.versions[name]
      )
    )
      return [];
    for (const [name, main] of mains) {
      const cached = addCachedModule(main);
      cached.exports = bundle.packages[name];
      cached.loaded = true;
    }
    return [...SHARED];
  } catch (err) {
    log.error('could not use the bundled OpenTelemetry packages', err);
    return [];
  }
}
