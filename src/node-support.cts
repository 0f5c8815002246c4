// Which Node lines otel-forksafe runs on, and what it does on the others: the first thing both
// preload doors (register.ts, register.cts) and otel-launch load. A CommonJS leaf that imports
// only built-ins, so that it loads on any Node and through either door, before anything that
// could fail to link there (a named import of a built-in export an old Node lacks).
// Dev note: plain require() and module.exports, because this is CommonJS and the compiler keeps
// what we write (verbatimModuleSyntax, erasableSyntaxOnly); importers get the type NodeSupport.
import type * as Fs from 'node:fs';
import type * as Path from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';

/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS leaf on purpose */
const fs = require('node:fs') as typeof Fs;
const path = require('node:path') as typeof Path;

/** The supported range, as in package.json "engines". */
const SUPPORTED_NODE_RANGE = '^22.15.0 || >=24';

/**
 * The one line printed on an unsupported Node (e.g. `v20.20.2`), or undefined when `version`
 * is supported: 22.15 or later on the 22 line, or 24 and up. 23 is an odd line that reached its
 * end of life, outside the range in "engines". A version that does not parse counts as
 * supported (never disable telemetry on a guess). Pure; never throws.
 */
function unsupportedNodeLine(version: string): string | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!match) return undefined;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major >= 24 || (major === 22 && minor >= 15)) return undefined;
  const needs = major === 23 ? '22.15+ or >= 24' : '>= 22.15';
  return `otel-forksafe: Node v${major}.${minor}.${match[3]} is not supported (needs ${needs}); running without telemetry`;
}

/**
 * True when `text` (a process's command line and environment, NUL-separated, as /proc shows
 * them) loads otel-forksafe: its package name, or a register file in `distDir` by path or URL.
 * Pure.
 */
function namesOurPreload(text: string, distDir: string): boolean {
  return (
    text.includes('otel-forksafe') ||
    text.includes(path.join(distDir, 'register.'))
  );
}

// Dev note: a child with an IPC channel (a cluster worker, a child_process.fork child) was
// started by a node process; when that parent loaded the preload too, it has already printed
// the line for this process tree. /proc is Linux-only: elsewhere (or when it cannot be read,
// or the parent changed its title) the child prints its own line, one more, never one fewer.
function parentPrintedTheLine(distDir: string): boolean {
  if (typeof process.send !== 'function') return false;
  try {
    const read = (name: string): string =>
      fs.readFileSync(`/proc/${process.ppid}/${name}`, 'latin1');
    return namesOurPreload(`${read('cmdline')}\0${read('environ')}`, distDir);
  } catch {
    return false;
  }
}

const SAID = Symbol.for('otel-forksafe.unsupported-node');
type GlobalWithSaid = typeof globalThis & { [SAID]?: true };

/**
 * The preload doors' guard. On a supported Node returns false. On any other prints the line of
 * unsupportedNodeLine() on stderr, once per process tree where it can tell (main thread only,
 * not again when the preload is given twice, not in an IPC child whose parent printed it), and
 * returns true: the caller must then load and patch nothing. `distDir` is the directory of the
 * register files. Never throws.
 */
function stopOnUnsupportedNode(
  distDir: string = path.join(__dirname, '..')
): boolean {
  const line = unsupportedNodeLine(process.version);
  if (line === undefined) return false;
  const g = globalThis as GlobalWithSaid;
  if (g[SAID] === undefined) {
    Object.defineProperty(g, SAID, { value: true, enumerable: false });
    // Dev note: written here rather than through diag.ts, which is ES module code inside the
    // preload bundle, and whose `[pid role] level:` prefix promises a preload that runs.
    // Dev note: only on an unsupported Node is node:worker_threads worth its load (~4 ms).
    const { isMainThread } =
      require('node:worker_threads') as typeof WorkerThreads;
    if (isMainThread && !parentPrintedTheLine(distDir)) {
      try {
        process.stderr.write(`${line}\n`);
      } catch {
        // stderr closed: there is no one to tell
      }
    }
  }
  return true;
}

const nodeSupport = {
  SUPPORTED_NODE_RANGE,
  unsupportedNodeLine,
  namesOurPreload,
  stopOnUnsupportedNode,
};

/** What this module exports; ES module importers load it with createRequire(). */
export type NodeSupport = typeof nodeSupport;

module.exports = nodeSupport;
