// otel-launch's engine: runs a command with the preload appended to a copy of NODE_OPTIONS,
// inherits stdio, relays signals, and returns the child's status (128+n when it died of signal n).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { SHUTDOWN_SIGNALS } from '../config/vars.ts';
import { appendImportToNodeOptions } from '../patches/node-options.ts';
import { createPreloadMatcher } from '../patches/preload-matcher.ts';

/** The file URL of the preload, resolved from this file's own location (dist/src/cli). */
export const PRELOAD_URL = new URL('../../register.js', import.meta.url).href;

/** Prints one `otel-launch:` line on stderr. */
export function printError(message: string): void {
  process.stderr.write(`otel-launch: ${message}\n`);
}

/**
 * True when an --import/--require specifier already loads otel-forksafe: the package name, or
 * this copy's register file (src/patches/preload-matcher.ts).
 */
export const isOurPreload = createPreloadMatcher(PRELOAD_URL);

/**
 * The child's environment: a copy of `env` with `overrides` on top, whose NODE_OPTIONS gains
 * `--import=<file URL of the preload>` after what the user had, unless the preload is there.
 */
export function buildChildEnv(
  env: NodeJS.ProcessEnv,
  overrides: Readonly<Record<string, string>> = {}
): NodeJS.ProcessEnv {
  const child = { ...env, ...overrides };
  // Dev note: a file URL, not the package name: the wrapped app may not be able to resolve
  // otel-forksafe, and a URL has no spaces to quote (appendImportToNodeOptions quotes anyway).
  child.NODE_OPTIONS = appendImportToNodeOptions(
    child.NODE_OPTIONS,
    PRELOAD_URL,
    isOurPreload
  );
  return child;
}

/** How the child ended. */
export interface LaunchResult {
  /** The status to exit with: the child's code, 128+n after signal n, 127/126 if not started. */
  readonly code: number;
  /** The signal that killed the child, which the launcher re-raises on itself. */
  readonly signal: NodeJS.Signals | null;
  readonly pid: number | undefined;
}

/**
 * Runs `command args` in the foreground and resolves with the exit status to use: the child's
 * code, 128+n for a signal death (the caller re-raises it), 127 if it cannot be started.
 */
export function launch(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv
): Promise<LaunchResult> {
  return new Promise(resolve => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    const pid = child.pid;
    const relay = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const signal of SHUTDOWN_SIGNALS) process.on(signal, relay);
    const cleanup = (): void => {
      for (const signal of SHUTDOWN_SIGNALS) process.off(signal, relay);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      printError(
        err.code === 'ENOENT'
          ? `command not found: ${command}`
          : `cannot run ${command}: ${err.message}`
      );
      resolve({
        code: err.code === 'ENOENT' ? 127 : 126,
        signal: null,
        pid: undefined,
      });
    });
    child.on('exit', (code, signal) => {
      cleanup();
      if (signal) {
        resolve({ code: 128 + (constants.signals[signal] ?? 0), signal, pid });
      } else {
        resolve({ code: code ?? 1, signal: null, pid });
      }
    });
  });
}
