// Loads our pre-built CommonJS bundles (the SDK path, the shared OpenTelemetry packages) with
// V8's code cache: the bytecode of a bundle as it stood once the process had started is kept in
// a per-user directory, and later processes skip compiling it. Every worker
// a cluster restarts, and every `pm2 reload`, starts the same bundles: compiling them is most
// of what they cost to load (~20 ms of ~35 ms for the SDK bundle on a 2-core machine).
//
// Dev note: code run by vm.Script has no loader for import(); scripts/bundle.mjs turns the
// bundles' only dynamic imports (node:http/https) into require() and fails on any other.
// Dev note: Node 22.1+ has a compile cache of its own (NODE_COMPILE_CACHE /
// module.enableCompileCache): when it is on, it covers these files too and we use plain require.
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import Module, { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import type * as Vm from 'node:vm';
import { log } from '../diag.ts';
import {
  addCachedModule,
  cachedModule,
  removeCachedModule,
  type CachedModule,
} from './module-cache.ts';
import { digest } from '../identity/random-id.ts';

type CompileCacheProbe = { getCompileCacheDir?: () => string | undefined };

const require = createRequire(import.meta.url);

// One line above the source keeps line numbers (stack traces, source maps) exact.
const WRAPPER_HEAD =
  '(function (exports, require, module, __filename, __dirname) {\n';
const WRAPPER_TAIL = '\n})';

/**
 * When a bundle's cache is written: on the first turn of the event loop after it was loaded, so
 * it holds what starting up compiled (the SDK, the app's own requires through our hooks) and
 * not what exporting compiles later: a bigger cache costs more to read than it saves.
 */
export const CACHE_WRITE_DELAY_MS = 0;

/** What loadBundle did, for the debug line and the tests. */
export type CacheOutcome =
  | 'hit'
  | 'miss'
  | 'rejected'
  | 'off'
  | 'unsafe-dir'
  | 'node-compile-cache'
  | 'source-maps';

/**
 * Whether `dir` may hold code this process will run: a real directory (not a symlink) owned by
 * this user and writable by nobody else. Creates it (mode 0700) when missing.
 */
export function safeCacheDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.isSymbolicLink()) return false;
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) return false;
    return (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

const safeDirs = new Map<string, boolean>();

/** The cache file of `file` for this Node, these V8 options and this exact bundle. */
function cacheFileName(file: string, size: number, mtimeMs: number): string {
  // V8 rejects a cache made under other V8 flags; keying on them keeps processes started with
  // different flags from overwriting each other's cache.
  const flags = digest(
    `${process.execArgv.join(' ')}\0${process.env.NODE_OPTIONS ?? ''}`
  );
  return `${basename(file)}-${size}-${Math.trunc(mtimeMs)}-${process.version}-${process.arch}-${flags}.v8cache`;
}

function nodeCompileCacheOn(): boolean {
  const probe = (Module as unknown as CompileCacheProbe).getCompileCacheDir;
  return typeof probe === 'function' && probe() !== undefined;
}

/** Why `dir` is not used for the code cache in this process, or undefined when it is. */
function whyNotCached(dir: string | undefined): CacheOutcome | undefined {
  if (dir === undefined) return 'off';
  if (nodeCompileCacheOn()) return 'node-compile-cache';
  // Node maps stack traces (--enable-source-maps) only for code it loads itself.
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled)
    return 'source-maps';
  let safe = safeDirs.get(dir);
  if (safe === undefined) safeDirs.set(dir, (safe = safeCacheDir(dir)));
  return safe ? undefined : 'unsafe-dir';
}

/**
 * `require(file)` for one of our CommonJS bundles, through V8's code cache kept in `dir`
 * (undefined: no cache). Same module object, cache entry and errors as require. Never fails
 * because of the cache: an unreadable, rejected or unwritable cache means compiling as usual.
 */
export function loadBundle(
  file: string,
  dir: string | undefined
): { exports: unknown; outcome: CacheOutcome } {
  const loaded = cachedModule(file);
  if (loaded !== undefined) return { exports: loaded.exports, outcome: 'hit' };
  const skipped = whyNotCached(dir);
  if (skipped !== undefined || dir === undefined)
    return { exports: require(file), outcome: skipped ?? 'off' };

  const source = readFileSync(file, 'utf8');
  const st = statSync(file);
  const cachePath = join(dir, cacheFileName(file, st.size, st.mtimeMs));
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cachePath);
  } catch {
    cachedData = undefined;
  }
  // Dev note: node:vm is loaded here, by the processes that load a bundle, not by every one.
  const vm = require('node:vm') as typeof Vm;
  const script = new vm.Script(WRAPPER_HEAD + source + WRAPPER_TAIL, {
    filename: file,
    lineOffset: -1,
    cachedData,
  });
  const outcome: CacheOutcome =
    cachedData === undefined
      ? 'miss'
      : script.cachedDataRejected === true
        ? 'rejected'
        : 'hit';
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: CachedModule,
    filename: string,
    dirname: string
  ) => void;
  const mod = addCachedModule(file);
  try {
    wrapper.call(
      mod.exports,
      mod.exports,
      createRequire(file),
      mod,
      file,
      dirname(file)
    );
  } catch (err) {
    removeCachedModule(file);
    throw err;
  }
  mod.loaded = true;
  if (outcome !== 'hit') {
    setTimeout(
      () => writeCache(script, cachePath, basename(file)),
      CACHE_WRITE_DELAY_MS
    ).unref();
  }
  return { exports: mod.exports, outcome };
}

/** Cache files of other builds of a bundle are removed once they are this old. */
export const STALE_CACHE_MS = 24 * 60 * 60 * 1000;

function writeCache(
  script: Vm.Script,
  cachePath: string,
  bundle: string
): void {
  const tmp = `${cachePath}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    // Atomic: a concurrent reader sees the old file or the whole new one, never a part.
    renameSync(tmp, cachePath);
    removeStale(dirname(cachePath), bundle, basename(cachePath));
  } catch (err) {
    log.debug(`could not write the code cache ${cachePath}: ${String(err)}`);
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

// Each build (and Node version) of a bundle has its own file: those not rewritten for a day
// belong to versions no longer started here (one in use again is simply rewritten).
function removeStale(dir: string, bundle: string, current: string): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (name === current || !name.startsWith(`${bundle}-`)) continue;
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > STALE_CACHE_MS) unlinkSync(path);
    } catch {
      // gone already, or not ours to remove
    }
  }
}
