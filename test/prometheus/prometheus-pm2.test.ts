// OTEL_METRICS_EXPORTER=prometheus under pm2 cluster mode (2 instances; a temporary PM2_HOME,
// the daemon killed by the test), scraped by a real Prometheus server: pm2's daemon is dark,
// one instance holds the endpoint and gathers the other over a local socket, the counters
// add up to the requests sent, and when the holder is killed the other instance takes over.
import assert from 'node:assert/strict';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  freePort,
  get,
  startPrometheusServer,
} from '../helpers/prometheus-server.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  ROOT,
  runNode,
} from '../helpers/run-node.ts';

after(killAll);

const PM2 = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
const APP = 'forksafe-prom';
const REQUESTS = 40;

interface Pm2Home {
  home: string;
  port: number;
  promPort: number;
  env: Record<string, string>;
}

async function makeHome(): Promise<Pm2Home> {
  const home = mkdtempSync(join(tmpdir(), 'forksafe-pm2-'));
  const port = await freePort();
  const promPort = await freePort();
  return {
    home,
    port,
    promPort,
    env: {
      PM2_HOME: home,
      PORT: String(port),
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
      OTEL_SERVICE_NAME: 'pm2-prom',
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
      PM2_DISCRETE_MODE: 'true',
    },
  };
}

function pm2(h: Pm2Home, args: string[]): ReturnType<typeof runNode> {
  return runNode(PM2, { args, env: h.env, timeoutMs: 30000 });
}

/** `pm2 kill`, then SIGKILL whatever is left of the daemon's process group; removes the home. */
async function destroy(h: Pm2Home): Promise<void> {
  await pm2(h, ['kill']).catch(() => undefined);
  try {
    const pid = Number(readFileSync(join(h.home, 'pm2.pid'), 'utf8'));
    if (pid > 0) process.kill(-pid, 'SIGKILL');
  } catch {
    // no daemon left
  }
  rmSync(h.home, { recursive: true, force: true });
}

function logs(h: Pm2Home): string {
  try {
    const dir = join(h.home, 'logs');
    return readdirSync(dir)
      .map(f => `--- ${f}\n${readFileSync(join(dir, f), 'utf8').slice(-3000)}`)
      .join('\n');
  } catch {
    return '(no logs)';
  }
}

/** The pid (of `pids`) that listens on 127.0.0.1:port, from /proc (Linux). */
function listenerOf(port: number, pids: readonly number[]): number | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set(
    readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .map(l => l.trim().split(/\s+/))
      .filter(f => f[1]?.endsWith(`:${hex}`) && f[3] === '0A')
      .map(f => f[9])
  );
  return pids.find(pid => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some(fd => {
        try {
          const m = /socket:\[(\d+)\]/.exec(
            readlinkSync(`/proc/${pid}/fd/${fd}`)
          );
          return m !== null && inodes.has(m[1]);
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

const pidsIn = (body: string): number[] =>
  [...body.matchAll(/^target_info\{.*?process_pid="(\d+)"/gm)]
    .map(m => Number(m[1]))
    .sort();

test('pm2 cluster mode, 2 instances: Prometheus scrapes both through one endpoint; the other instance takes over from a killed holder', async t => {
  const h = await makeHome();
  const prom = await startPrometheusServer(`127.0.0.1:${h.promPort}`);
  try {
    const started = await pm2(h, [
      'start',
      fixture('pm2-app.cjs'),
      '--name',
      APP,
      '-i',
      '2',
      '--node-args=--import otel-forksafe/register',
    ]);
    assert.equal(started.code, 0, describe(started));
    // Both instances up and in one scrape (an instance joins once its SDK is up).
    const until = Date.now() + 20000;
    let body = '';
    while (Date.now() < until) {
      body = (await get(h.promPort, '/metrics').catch(() => ({ body: '' })))
        .body;
      if (pidsIn(body).length === 2) break;
      await new Promise(r => setTimeout(r, 100));
    }
    const pids = pidsIn(body);
    assert.equal(
      pids.length,
      2,
      `two instances in one scrape\n${body}\n${logs(h)}`
    );

    assert.equal(await hammer(h.port, REQUESTS, '/'), REQUESTS);
    const byInstance = await prom.waitFor(
      'sum by (process_pid, service_instance_id) (http_server_request_duration_count)',
      s => s.reduce((n, x) => n + x.value, 0) === REQUESTS,
      15000
    );
    // Every instance served some of them and is told apart by pid and by instance id.
    assert.deepEqual(
      byInstance.map(s => Number(s.metric.process_pid)).sort(),
      pids,
      JSON.stringify(byInstance)
    );
    const ids = byInstance.map(s => s.metric.service_instance_id ?? '').sort();
    assert.match(ids[0] ?? '', /-w0$/);
    assert.match(ids[1] ?? '', /-w1$/);
    const info = await prom.query('target_info{service_name="pm2-prom"}');
    assert.deepEqual(info.map(s => Number(s.metric.process_pid)).sort(), pids);

    // Takeover: SIGKILL the holder; the other instance binds the port, and pm2's replacement
    // for the killed one joins it under the same instance id.
    const holder = listenerOf(h.promPort, pids);
    assert.ok(holder !== undefined, `one of ${pids.join(', ')} listens`);
    const survivor = pids.find(p => p !== holder) ?? 0;
    const holderId = info.find(s => Number(s.metric.process_pid) === holder)
      ?.metric.service_instance_id;
    const killedAt = Date.now();
    process.kill(holder, 'SIGKILL');
    let tookOverIn: number | undefined;
    let after = '';
    while (Date.now() < killedAt + 20000) {
      const res = await get(h.promPort, '/metrics').catch(() => undefined);
      if (res?.status === 200) {
        tookOverIn ??= Date.now() - killedAt;
        after = res.body;
        if (pidsIn(after).length === 2) break;
      }
      await new Promise(r => setTimeout(r, 50));
    }
    assert.ok(
      tookOverIn !== undefined && tookOverIn < 3000,
      `took over in ${tookOverIn} ms`
    );
    t.diagnostic(
      `endpoint answered again ${tookOverIn} ms after the holder was killed`
    );
    const now = pidsIn(after);
    assert.equal(
      now.length,
      2,
      `survivor and replacement\n${after}\n${logs(h)}`
    );
    assert.ok(now.includes(survivor));
    assert.ok(!now.includes(holder));
    assert.equal(
      listenerOf(h.promPort, now),
      survivor,
      'the survivor holds the endpoint'
    );
    const replacement = now.find(p => p !== survivor);
    assert.match(
      after,
      new RegExp(
        `target_info\\{service_instance_id="${holderId}",process_pid="${replacement}"`
      ),
      'the replacement has the killed instance’s id'
    );
    // Prometheus keeps scraping the one target.
    await prom.waitFor(
      'count(target_info{service_name="pm2-prom"})',
      s => s[0]?.value === 2,
      10000
    );
    const up = await prom.query('up');
    assert.equal(up[0]?.value, 1);
    assert.doesNotMatch(logs(h), /EADDRINUSE|otel-forksafe:/, logs(h));
  } finally {
    await destroy(h);
    await prom.stop();
  }
});
