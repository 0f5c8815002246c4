// Real pm2 for tests: a temporary PM2_HOME per installation, the pm2 CLI run through
// run-node, and a teardown that kills the daemon and whatever is left of its process group.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

/** `pm2 kill`, then SIGKILL whatever is left of the daemon's process group; removes the home. */
export async function destroyPm2(h: Pm2Home): Promise<void> {
  await pm2(h, ['kill']).catch(() => undefined);
  try {
    const pid = Number(readFileSync(join(h.home, 'pm2.pid'), 'utf8'));
    if (pid > 0) process.kill(-pid, 'SIGKILL');
  } catch {
    // no daemon left
  }
  rmSync(h.home, { recursive: true, force: true });
}
