// Spawns fixture apps (or the CLI) for integration tests: bounded in time, killed on cleanup,
// with a copy-pasteable repro command printed when an assertion fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Absolute path of a fixture. */
export const fixture = (name: string): string => join(ROOT, 'fixtures', name);
/** The node binary running the tests (so the suite runs under whichever Node runs it). */
export const NODE = process.execPath;

/** Options of startNode. */
export interface RunOptions {
  /** Node flags before the script (e.g. ['--import', 'otel-forksafe/register']). */
  readonly nodeArgs?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Hard limit; the process tree is SIGKILLed after it. Default 30 s. */
  readonly timeoutMs?: number;
  /** Run this command instead of `node` (for the CLI). */
  readonly command?: string;
  /** Open an IPC channel to the child (child.send()), as a supervisor does. */
  readonly ipc?: boolean;
  /** Working directory (default: the repository). */
  readonly cwd?: string;
}

/** A running process with its collected output. */
export interface RunningNode {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout: string;
  stderr: string;
  /** Resolves with the first stdout line starting with `prefix` (the rest of the line). */
  waitForLine(prefix: string, timeoutMs?: number): Promise<string>;
  /** Writes one line to stdin. */
  send(line: string): void;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
  }>;
  /** The command line, to reproduce a failure by hand. */
  readonly repro: string;
  /** Kills the process group if still running. */
  kill(): void;
}

const running = new Set<RunningNode>();

/** Base environment of every spawned process: quiet, no colour, metrics/logs off unless asked. */
export function baseEnv(
  overrides: Readonly<Record<string, string | undefined>> = {}
): Record<string, string> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    FORCE_COLOR: '0',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    ...overrides,
  };
  // Never let the test runner's own OTEL settings leak in unless asked.
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** Starts a node process (detached into its own process group so cleanup can kill workers). */
export function startNode(
  script: string,
  options: RunOptions = {}
): RunningNode {
  const env = baseEnv(options.env);
  const argv = [...(options.nodeArgs ?? []), script, ...(options.args ?? [])];
  const command = options.command ?? NODE;
  const cwd = options.cwd ?? ROOT;
  const child = spawn(command, argv, {
    cwd,
    env,
    stdio: options.ipc
      ? ['pipe', 'pipe', 'pipe', 'ipc']
      : ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const shownEnv = Object.entries(options.env ?? {})
    .map(([k, v]) => `${k}=${JSON.stringify(v ?? '')}`)
    .join(' ');
  const repro = `(cd ${cwd} && ${shownEnv} ${command} ${argv.join(' ')})`;
  const listeners = new Set<() => void>();
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const run: RunningNode = {
    child,
    pid: child.pid ?? -1,
    stdout: '',
    stderr: '',
    repro,
    exited,
    send(line) {
      child.stdin?.write(`${line}\n`);
    },
    kill() {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
    },
    waitForLine(prefix, timeoutMs = 20000) {
      return new Promise((resolvePromise, reject) => {
        const check = (): boolean => {
          for (const line of run.stdout.split('\n')) {
            if (line.startsWith(prefix) && run.stdout.includes(`${line}\n`)) {
              listeners.delete(check);
              clearTimeout(timer);
              resolvePromise(line.slice(prefix.length).trim());
              return true;
            }
          }
          return false;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new Error(
              `no line starting ${JSON.stringify(prefix)} within ${timeoutMs} ms\n${describe(run)}`
            )
          );
        }, timeoutMs);
        if (!check()) listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            if (!check())
              reject(
                new Error(
                  `exited before a line starting ${JSON.stringify(prefix)}\n${describe(run)}`
                )
              );
          }
        });
      });
    },
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    run.stdout += chunk;
    for (const l of [...listeners]) l();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    run.stderr += chunk;
  });
  child.stdin?.on('error', () => {});
  const timer = setTimeout(() => run.kill(), options.timeoutMs ?? 30000);
  timer.unref();
  void exited.then(() => {
    clearTimeout(timer);
    running.delete(run);
  });
  running.add(run);
  return run;
}

/** Runs a process to completion. */
export async function runNode(
  script: string,
  options: RunOptions = {}
): Promise<
  RunningNode & { code: number | null; signal: NodeJS.Signals | null }
> {
  const run = startNode(script, options);
  run.child.stdin?.end();
  const { code, signal } = await run.exited;
  // Let the stdio streams drain.
  await new Promise(r => setImmediate(r));
  return Object.assign(run, { code, signal });
}

/** Repro command plus output, for assertion messages. */
export function describe(run: RunningNode): string {
  return `repro: ${run.repro}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
}

/** Kills every process still running (call from `after`/`afterEach`). */
export function killAll(): void {
  for (const run of running) run.kill();
}

/** stderr lines that are Node warnings we did not expect. */
export function unexpectedWarnings(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter(l => /\bWarning\b/.test(l) && !l.startsWith('otel-forksafe:'));
}

/** The lines of our diagnostics. */
export function forksafeLines(stderr: string): string[] {
  return stderr.split('\n').filter(l => l.startsWith('otel-forksafe:'));
}

/** Sends `count` HTTP GETs to 127.0.0.1:port, a new connection each, bounded in time. */
export async function hammer(
  port: number,
  count: number,
  path = '/'
): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i++) {
    const status = await new Promise<number>((resolvePromise, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port, path, agent: false, timeout: 5000 },
        res => {
          res.resume();
          res.on('end', () => resolvePromise(res.statusCode ?? 0));
        }
      );
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
    });
    if (status === 200) ok++;
  }
  return ok;
}
