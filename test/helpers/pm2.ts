// Real pm2 for tests: a temporary PM2_HOME per installation, the pm2 CLI run through
// run-node, and a teardown that kills the daemon and whatever is left of its process group.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runNode } from './run-node.ts';

const PM2 = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

/** One pm2 installation: its home and the environment every pm2 command gets. */
export interface Pm2Home {
  readonly home: string;
  readonly env: Record<string, string>;
}

export function makePm2Home(env: Record<string, string> = {}): Pm2Home {
  const home = mkdtempSync(join(tmpdir(), 'forksafe-pm2-'));
  return { home, env: { PM2_HOME: home, PM2_DISCRETE_MODE: 'true', ...env } };
}

/** Runs one pm2 CLI command (bounded to 30 s). */
export function pm2(h: Pm2Home, args: string[]): ReturnType<typeof runNode> {
  return runNode(PM2, { args, env: h.env, timeoutMs: 30000 });
}

/** The pids of an app's instances (`pm2 jlist`), online ones only. */
export async function onlinePids(h: Pm2Home): Promise<number[]> {
  const list = await pm2(h, ['jlist']);
  const start = list.stdout.indexOf('[');
  if (start < 0) return [];
  const apps = JSON.parse(list.stdout.slice(start)) as {
    pid: number;
    pm2_env: { status: string };
  }[];
  return apps.filter(a => a.pm2_env.status === 'online').map(a => a.pid);
}

/** The daemon's log (what pm2 did to the processes), the last `chars` of it. */
export function pm2Log(h: Pm2Home, chars = 4000): string {
  try {
    return readFileSync(join(h.home, 'pm2.log'), 'utf8').slice(-chars);
  } catch {
    return '(no pm2.log)';
  }
}

/** Whether `pid` is still a pm2 daemon (its pid file may be stale, the pid reused). */
function isPm2Daemon(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('PM2');
  } catch {
    return false;
  }
}

/** `pid` and every process below it (Linux /proc), children first. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the 4th field, after the command in parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const below = (p: number): number[] => [
    ...(children.get(p) ?? []).flatMap(below),
    p,
  ];
  return below(pid);
}

/**
 * Stops pm2 and everything it started: `pm2 kill`, then SIGKILL to whatever is left of the
 * daemon's process tree (its apps too, even when `pm2 kill` failed, e.g. because a broken
 * preload in NODE_OPTIONS made the CLI fail), then the home directory.
 */
export async function destroyPm2(h: Pm2Home): Promise<void> {
  let daemon = 0;
  try {
    daemon = Number(readFileSync(join(h.home, 'pm2.pid'), 'utf8'));
  } catch {
    // no daemon was started
  }
  await pm2(h, ['kill']).catch(() => undefined);
  if (daemon > 0 && isPm2Daemon(daemon)) {
    const tree = processTree(daemon);
    try {
      process.kill(-daemon, 'SIGKILL');
    } catch {
      // not a group leader, or gone
    }
    for (const pid of tree) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  rmSync(h.home, { recursive: true, force: true });
}
