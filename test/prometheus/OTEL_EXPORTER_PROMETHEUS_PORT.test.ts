// The Prometheus endpoint without a Prometheus server: the test scrapes it itself. A worker that
// hangs (SIGSTOP) is left out within the bound and counted; a replaced worker keeps its
// instance id under a new pid with its counters restarted; a port taken by another program
// gives one line and the app runs on; a standalone app serves its own metrics; print-config
// and doctor cover the endpoint.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort, get } from '../helpers/prometheus-server.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  ROOT,
  runNode,
  startNode,
  unexpectedWarnings,
  type RunningNode,
} from '../helpers/run-node.ts';

after(killAll);

interface Ready {
  port: number;
  workers: number[];
}

function env(promPort: number): Record<string, string> {
  return {
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
  };
}

async function startCluster(
  promPort: number
): Promise<{ app: RunningNode; ready: Ready }> {
  const app = startNode(fixture('cluster-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['2'],
    env: env(promPort),
    timeoutMs: 40000,
  });
  const ready = JSON.parse(await app.waitForLine('READY ')) as Ready;
  return { app, ready };
}

async function stop(app: RunningNode): Promise<void> {
  app.send('stop');
  const timer = setTimeout(() => app.kill(), 10000);
  await app.exited;
  clearTimeout(timer);
}

/** The sample lines of `metric` in an exposition, with their labels parsed. */
function samples(
  body: string,
  metric: string
): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `))
      continue;
    const labels: Record<string, string> = {};
    for (const m of line.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[m[1] ?? ''] = m[2] ?? '';
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

/** Scrapes until `accept` holds (a worker says hello a moment after it listens). */
async function scrapeUntil(
  promPort: number,
  accept: (body: string) => boolean,
  what: string
): Promise<string> {
  const until = Date.now() + 10000;
  let body = '';
  while (Date.now() < until) {
    // Refused until the endpoint listens (a standalone app starts it after its main module).
    body = (await get(promPort, '/metrics').catch(() => ({ body: '' }))).body;
    if (accept(body)) return body;
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`${what}: not seen in 10 s; last scrape:\n${body}`);
}

const pidsIn = (body: string): string[] =>
  samples(body, 'target_info')
    .map(s => s.labels.process_pid ?? '')
    .sort();

test('a hung worker is left out of the scrape within the bound, and counted', async () => {
  const promPort = await freePort();
  const { app, ready } = await startCluster(promPort);
  try {
    const [hung, alive] = ready.workers as [number, number];
    await scrapeUntil(
      promPort,
      b => pidsIn(b).length === 2,
      'both workers in a scrape'
    );
    process.kill(hung, 'SIGSTOP');
    const started = Date.now();
    // Prometheus sends its scrape timeout; a worker gets at most half of it (500 ms here).
    const res = await get(promPort, '/metrics', {
      'X-Prometheus-Scrape-Timeout-Seconds': '1',
    });
    const took = Date.now() - started;
    assert.equal(res.status, 200);
    assert.ok(took >= 450 && took < 1000, `answered in ${took} ms`);
    assert.deepEqual(pidsIn(res.body), [String(alive)], res.body);
    assert.equal(
      samples(res.body, 'otel_forksafe_scrape_processes_left_out')[0]?.value,
      1
    );
    assert.equal(
      samples(res.body, 'otel_forksafe_scrape_processes')[0]?.value,
      1
    );
    process.kill(hung, 'SIGCONT');
    const back = await scrapeUntil(
      promPort,
      b => pidsIn(b).length === 2,
      'the worker back after SIGCONT'
    );
    assert.equal(
      samples(back, 'otel_forksafe_scrape_processes_left_out')[0]?.value,
      0
    );
    await stop(app);
    assert.deepEqual(forksafeLines(app.stderr), [], describe(app));
  } finally {
    try {
      process.kill(ready.workers[0] ?? 0, 'SIGCONT');
    } catch {
      // gone
    }
    app.kill();
  }
});

test('a replaced worker keeps its instance id under its new pid; its counters restart', async () => {
  const promPort = await freePort();
  const { app, ready } = await startCluster(promPort);
  try {
    assert.equal(await hammer(ready.port, 20, '/hit'), 20);
    const before = await scrapeUntil(
      promPort,
      b =>
        samples(b, 'fixture_requests_total')
          .filter(s => s.labels.route === '/hit')
          .reduce((n, s) => n + s.value, 0) === 20,
      '20 requests counted'
    );
    const [victim] = ready.workers as [number, number];
    const idOf = (body: string, pid: number): string | undefined =>
      samples(body, 'target_info').find(
        s => s.labels.process_pid === String(pid)
      )?.labels.service_instance_id;
    const victimId = idOf(before, victim);
    assert.ok(victimId, before);
    app.send(`kill ${victim}`);
    const replaced = JSON.parse(await app.waitForLine('REPLACED ')) as {
      old: number;
      new: number;
    };
    const after = await scrapeUntil(
      promPort,
      b => pidsIn(b).includes(String(replaced.new)),
      'the replacement worker'
    );
    assert.ok(
      !pidsIn(after).includes(String(victim)),
      'the dead worker is gone'
    );
    assert.equal(pidsIn(after).length, 2, after);
    assert.equal(idOf(after, replaced.new), victimId, 'same slot, same id');
    const newHits = samples(after, 'fixture_requests_total').filter(
      s =>
        s.labels.process_pid === String(replaced.new) &&
        s.labels.route === '/hit'
    );
    assert.deepEqual(newHits, [], 'the new worker counts from zero');
    // The same series names as its predecessor.
    const names = (body: string, pid: number): string[] =>
      [
        ...new Set(
          body
            .split('\n')
            .filter(l => l.includes(`process_pid="${pid}"`))
            .map(l => l.slice(0, l.indexOf('{')))
        ),
      ].sort();
    assert.ok(
      names(after, replaced.new).includes('fixture_requests_total'),
      after
    );
    assert.equal(
      samples(after, 'otel_forksafe_scrape_processes_left_out')[0]?.value,
      0
    );
    await stop(app);
    assert.deepEqual(forksafeLines(app.stderr), [], describe(app));
  } finally {
    app.kill();
  }
});

test('a port taken by another program: one line from the primary, the app runs on', async () => {
  const blocker = createServer(s => s.destroy());
  const promPort = await freePort();
  await new Promise<void>(r => blocker.listen(promPort, '127.0.0.1', r));
  try {
    const { app, ready } = await startCluster(promPort);
    try {
      assert.equal(await hammer(ready.port, 5, '/hit'), 5, describe(app));
      await stop(app);
      assert.equal(app.pid > 0, true);
      const lines = forksafeLines(app.stderr);
      assert.equal(lines.length, 1, describe(app));
      assert.match(
        lines[0] ?? '',
        new RegExp(
          `\\[${app.pid} primary\\] warn: OTEL_EXPORTER_PROMETHEUS_PORT=${promPort}: 127\\.0\\.0\\.1:${promPort} is already in use by another program; no Prometheus endpoint`
        )
      );
      assert.deepEqual(unexpectedWarnings(app.stderr), []);
    } finally {
      app.kill();
    }
  } finally {
    await new Promise(r => blocker.close(r));
  }
});

test('a standalone app whose port is taken: one line, the app runs on', async () => {
  const blocker = createServer(s => s.destroy());
  const promPort = await freePort();
  await new Promise<void>(r => blocker.listen(promPort, '127.0.0.1', r));
  const app = startNode(fixture('standalone-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    env: env(promPort),
    timeoutMs: 30000,
  });
  try {
    const port = Number(await app.waitForLine('READY '));
    assert.equal(await hammer(port, 3, '/'), 3, describe(app));
    app.send('stop');
    await app.exited;
    const lines = forksafeLines(app.stderr);
    assert.equal(lines.length, 1, describe(app));
    assert.match(
      lines[0] ?? '',
      /standalone\] warn: OTEL_EXPORTER_PROMETHEUS_PORT=\d+: 127\.0\.0\.1:\d+ is already in use \(by another program, or by another process of this app\); this process's metrics are not served/
    );
  } finally {
    app.kill();
    await new Promise(r => blocker.close(r));
  }
});

test('a standalone app serves its own metrics on the endpoint', async () => {
  const promPort = await freePort();
  const app = startNode(fixture('standalone-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    env: env(promPort),
    timeoutMs: 30000,
  });
  try {
    const port = Number(await app.waitForLine('READY '));
    assert.equal(await hammer(port, 3, '/'), 3);
    const body = await scrapeUntil(
      promPort,
      b =>
        samples(b, 'fixture_module_load_total').some(
          s => s.labels.phase === 'request' && s.value === 3
        ),
      'the standalone counter'
    );
    assert.deepEqual(pidsIn(body), [String(app.pid)]);
    // Two more scrapes: had they been recorded, the last one would show them.
    await get(promPort, '/metrics');
    const later = (await get(promPort, '/metrics')).body;
    assert.equal(
      samples(later, 'http_server_request_duration_count').reduce(
        (n, s) => n + s.value,
        0
      ),
      3,
      'scrapes are not counted as requests'
    );
    app.send('stop');
    await app.exited;
    assert.deepEqual(forksafeLines(app.stderr), [], describe(app));
  } finally {
    app.kill();
  }
});

const LAUNCHER = join(ROOT, 'dist', 'bin', 'otel-launch.js');

test('otel-launch --print-config shows the endpoint and where host and port came from', async () => {
  const run = await runNode(LAUNCHER, {
    args: ['--print-config'],
    env: {
      OTEL_METRICS_EXPORTER: 'otlp,prometheus',
      OTEL_EXPORTER_PROMETHEUS_PORT: '9999',
    },
  });
  assert.equal(run.code, 0, describe(run));
  assert.match(run.stdout, /exporter\s+otlp,prometheus\s/);
  assert.match(
    run.stdout,
    /prometheus endpoint\s+http:\/\/localhost:9999\/metrics\s+\(default \+ env OTEL_EXPORTER_PROMETHEUS_PORT\)/
  );
  assert.match(run.stdout, /no warnings/);
});

test('otel-launch doctor: the endpoint answers and lists the workers it saw; nothing listening fails', async () => {
  const promPort = await freePort();
  const doctorEnv = {
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
  };
  const down = await runNode(LAUNCHER, { args: ['doctor'], env: doctorEnv });
  assert.equal(down.code, 1, describe(down));
  assert.match(
    down.stdout,
    new RegExp(
      `^metrics\\s+prometheus\\s+http://127\\.0\\.0\\.1:${promPort}/metrics\\s+FAILED: nothing listens`,
      'm'
    )
  );
  const { app, ready } = await startCluster(promPort);
  try {
    await scrapeUntil(promPort, b => pidsIn(b).length === 2, 'both workers');
    const up = await runNode(LAUNCHER, { args: ['doctor'], env: doctorEnv });
    assert.equal(up.code, 0, describe(up));
    const line =
      up.stdout.split('\n').find(l => l.startsWith('metrics ')) ?? '';
    assert.match(line, /OK: the endpoint answers; 2 process\(es\)/, up.stdout);
    for (const pid of ready.workers)
      assert.match(line, new RegExp(`pid ${pid} \\(\\S+-w[01]\\)`));
    await stop(app);
  } finally {
    app.kill();
  }
});

test('the primary starts the endpoint at its first fork and loads no SDK for it', async () => {
  const promPort = await freePort();
  const app = startNode(fixture('cluster-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['2'],
    env: { ...env(promPort), OTEL_LOG_LEVEL: 'debug' },
    timeoutMs: 40000,
  });
  try {
    await app.waitForLine('READY ');
    await scrapeUntil(promPort, b => pidsIn(b).length === 2, 'both workers');
    await stop(app);
    const primary = forksafeLines(app.stderr).filter(l =>
      l.startsWith(`otel-forksafe: [${app.pid} `)
    );
    const firstFork = primary.findIndex(l =>
      l.includes('first cluster.fork()')
    );
    const endpoint = primary.findIndex(l =>
      l.includes(
        `Prometheus endpoint on 127.0.0.1:${promPort}, serving every worker`
      )
    );
    assert.ok(firstFork >= 0 && endpoint > firstFork, primary.join('\n'));
    assert.deepEqual(
      primary.filter(l => /sdk\.bundle|SDK started|otel-deps/.test(l)),
      [],
      'no SDK in the primary'
    );
    // ...while each worker says it loaded one (so the filter above can see it).
    assert.equal(
      forksafeLines(app.stderr).filter(l => /loaded sdk\.bundle\.cjs/.test(l))
        .length,
      2,
      app.stderr
    );
    assert.doesNotMatch(app.stderr, /EADDRINUSE/);
  } finally {
    app.kill();
  }
});

test('a standalone app that forks late hands its endpoint to itself as a primary, without a line', async () => {
  const promPort = await freePort();
  const app = startNode(fixture('late-fork-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    env: env(promPort),
    timeoutMs: 30000,
  });
  try {
    const pid = await app.waitForLine('READY ');
    const before = await scrapeUntil(
      promPort,
      b => samples(b, 'fixture_late_fork_total').length > 0,
      'the standalone counter'
    );
    assert.deepEqual(pidsIn(before), [pid]);
    app.send('fork');
    await app.waitForLine('DONE ');
    await app.exited;
    assert.deepEqual(forksafeLines(app.stderr), [], describe(app));
  } finally {
    app.kill();
  }
});

test('throng: its primary serves the endpoint with both workers', async () => {
  const promPort = await freePort();
  const app = startNode(fixture('throng-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['2'],
    env: env(promPort),
    timeoutMs: 30000,
  });
  try {
    const ready = JSON.parse(await app.waitForLine('READY ')) as Ready;
    const body = await scrapeUntil(
      promPort,
      b => pidsIn(b).length === 2,
      'both throng workers'
    );
    assert.deepEqual(pidsIn(body), ready.workers.map(String).sort());
    app.send('term');
    const timer = setTimeout(() => app.kill(), 10000);
    await app.exited;
    clearTimeout(timer);
    assert.deepEqual(forksafeLines(app.stderr), [], describe(app));
  } finally {
    app.kill();
  }
});
