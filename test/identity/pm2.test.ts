// pm2 cluster mode: 4 instances under real pm2 (a temporary PM2_HOME per test, the daemon
// killed by the test). Every instance exports with its own service.instance.id keyed to pm2's
// instance number, `pm2 reload` under load keeps those ids and loses no span, and pm2's own
// processes (CLI, daemon, pm2-runtime) export nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, test } from 'node:test';
import { useOtlpSink, type ReceivedSpan } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  killAll,
  ROOT,
  runNode,
  startNode,
  type RunningNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

const PM2 = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
const LAUNCH = join(ROOT, 'dist', 'bin', 'otel-launch.js');
const APP = 'forksafe-app';
const INSTANCES = 4;
const SERVER = 2;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

/** One pm2 installation for one test: its home, port and environment. */
interface Pm2Home {
  home: string;
  port: number;
  env: Record<string, string>;
}

async function makeHome(extra: Record<string, string> = {}): Promise<Pm2Home> {
  const home = mkdtempSync(join(tmpdir(), 'forksafe-pm2-'));
  const port = await freePort();
  return {
    home,
    port,
    env: {
      PM2_HOME: home,
      PORT: String(port),
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      // Long enough that an instance killed by `pm2 reload` holds unexported spans: they
      // arrive only if it flushes on SIGINT (issue #3).
      OTEL_BSP_SCHEDULE_DELAY: '500',
      OTEL_SERVICE_NAME: 'pm2-fixture',
      // The SDK's own instrumentations would add spans for pm2's IPC sockets: HTTP only.
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
      PM2_DISCRETE_MODE: 'true',
      ...extra,
    },
  };
}

async function pm2(
  h: Pm2Home,
  args: string[],
  env: Record<string, string> = {}
): Promise<Awaited<ReturnType<typeof runNode>>> {
  return runNode(PM2, {
    args,
    env: { ...h.env, ...env },
    timeoutMs: 30000,
  });
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

/**
 * GET /?i=<id>; resolves with the answering pid, retrying (every 100 ms, `retries` times) a
 * request that a restart cut off or that came before the app listened.
 */
async function request(
  port: number,
  id: number,
  retries = 20
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<number>((resolvePromise, reject) => {
        const req = http.get(
          {
            host: '127.0.0.1',
            port,
            path: `/?i=${id}-${attempt}`,
            agent: false,
            timeout: 5000,
          },
          res => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () =>
              res.statusCode === 200
                ? resolvePromise(Number(body))
                : reject(new Error(`status ${res.statusCode}`))
            );
          }
        );
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
      });
    } catch (err) {
      if (attempt >= retries) throw err;
      await new Promise(r => setTimeout(r, 100));
    }
  }
}

/**
 * Sends at least `count` requests, `concurrency` at a time; once `at.answered` have been
 * answered it starts `at.run()` and keeps the load going until that promise settles too.
 * Resolves with the answering pid of each request id.
 */
async function load(
  port: number,
  count: number,
  concurrency: number,
  at?: { answered: number; run: () => Promise<unknown> }
): Promise<Map<string, number>> {
  const answered = new Map<string, number>();
  let next = 0;
  let triggered = false;
  let running = false;
  const lane = async (): Promise<void> => {
    while (next < count || running) {
      const id = next++;
      // request() retries a cut-off request under a new attempt number.
      const pid = await request(port, id);
      answered.set(String(id), pid);
      if (at && !triggered && answered.size >= at.answered) {
        triggered = true;
        running = true;
        void at.run().finally(() => (running = false));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return answered;
}

function serverSpans(): ReceivedSpan[] {
  return sink()
    .spans()
    .filter(s => s.kind === SERVER);
}

/** The request id (`<id>`) an exported server span answered, from its url.query. */
function requestId(span: ReceivedSpan): string | undefined {
  const raw = span.attributes['url.query'] ?? span.attributes['http.target'];
  const query = typeof raw === 'string' ? raw : '';
  return /i=(\d+)-\d+/.exec(query)?.[1];
}

/** Waits until requests reach all INSTANCES instances; returns their pids. */
async function waitForInstances(port: number): Promise<Set<number>> {
  const pids = new Set<number>();
  // Instances come up one by one; the first ones answer while the others still start.
  const deadline = Date.now() + 20000;
  for (let i = 0; pids.size < INSTANCES && Date.now() < deadline; i++) {
    pids.add(await request(port, 1_000_000 + i, 200));
    if (pids.size < INSTANCES) await new Promise(r => setTimeout(r, 20));
  }
  assert.equal(pids.size, INSTANCES, 'requests reached 4 instances');
  return pids;
}

/** service.instance.id of each pid's spans; asserts one id per pid. */
function idsByPid(pids: Iterable<number>): Map<number, string> {
  const out = new Map<number, string>();
  for (const pid of pids) {
    const ids = new Set(
      sink()
        .spans()
        .filter(s => s.resource['process.pid'] === pid)
        .map(s => String(s.resource['service.instance.id']))
    );
    assert.equal(
      ids.size,
      1,
      `pid ${pid} exports under one id: ${[...ids].join(', ')}`
    );
    out.set(pid, [...ids][0] ?? '');
  }
  return out;
}

async function waitForSpansFrom(pids: Iterable<number>): Promise<void> {
  const want = [...pids];
  await sink().waitFor(
    () =>
      want.every(pid =>
        sink()
          .spans()
          .some(s => s.resource['process.pid'] === pid)
      ),
    { what: `spans from pids ${want.join(', ')}`, timeoutMs: 10000 }
  );
}

/**
 * The common scenario: 4 instances answer, `requests` requests with `pm2 reload` after 30%
 * of them, then: the same 4 ids before and after, a span for every answered request, and
 * spans only from the processes that answered (never from pm2's own).
 */
async function reloadUnderLoad(
  h: Pm2Home,
  requests: number,
  diagnostics: () => string
): Promise<void> {
  const before = await waitForInstances(h.port);
  await waitForSpansFrom(before);
  const idsBefore = new Set(idsByPid(before).values());
  assert.equal(
    idsBefore.size,
    INSTANCES,
    `4 distinct ids before: ${[...idsBefore].join(', ')}`
  );
  let reload: Promise<Awaited<ReturnType<typeof runNode>>> | undefined;
  const answered = await load(h.port, requests, 8, {
    answered: Math.floor(requests * 0.3),
    run: () => (reload = pm2(h, ['reload', APP])),
  });
  const reloaded = await reload;

  assert.ok(reloaded, 'pm2 reload ran');
  assert.equal(reloaded.code, 0, describe(reloaded));
  const after = await waitForInstances(h.port);
  for (const pid of after)
    assert.ok(!before.has(pid), 'reload replaced every instance');
  await waitForSpansFrom(after);
  const idsAfter = new Set(idsByPid(after).values());
  assert.deepEqual(idsAfter, idsBefore, 'the same 4 ids after pm2 reload');

  // Zero spans lost: every answered request has its server span.
  const missing = (): string[] => {
    const seen = new Set(serverSpans().map(requestId));
    return [...answered.keys()].filter(id => !seen.has(id));
  };
  await sink()
    .waitFor(() => missing().length === 0, {
      what: 'a server span for every answered request',
      timeoutMs: 10000,
    })
    .catch(() => undefined);
  const lost = missing();
  const lostByPid = new Map<number, number>();
  for (const id of lost) {
    const pid = answered.get(id) ?? 0;
    lostByPid.set(pid, (lostByPid.get(pid) ?? 0) + 1);
  }
  assert.equal(
    lost.length,
    0,
    `${lost.length} of ${answered.size} answered requests have no span; by pid (old: ${[...before].join(', ')}): ${JSON.stringify([...lostByPid])}\n${diagnostics()}`
  );

  // Nothing from pm2 itself: every exporting process answered requests.
  const answering = new Set([...before, ...after, ...answered.values()]);
  for (const pid of exportingPids()) {
    assert.ok(
      answering.has(pid),
      `pid ${pid} exported but is not an app instance`
    );
  }
}

function exportingPids(): Set<number> {
  return new Set(
    sink()
      .spans()
      .map(s => Number(s.resource['process.pid']))
  );
}

function pm2Logs(h: Pm2Home): string {
  try {
    return readFileSync(join(h.home, 'pm2.log'), 'utf8').slice(-4000);
  } catch {
    return '(no pm2.log)';
  }
}

test('pm2 start -i 4 --node-args: 1,000 requests, pm2 reload mid-load, same ids, no span lost', async () => {
  sink().clear();
  const h = await makeHome();
  try {
    const started = await pm2(h, [
      'start',
      fixture('pm2-app.cjs'),
      '--name',
      APP,
      '-i',
      String(INSTANCES),
      '--node-args=--import otel-forksafe/register',
    ]);
    assert.equal(started.code, 0, describe(started));
    await reloadUnderLoad(h, 1000, () => pm2Logs(h));
  } finally {
    await destroy(h);
  }
});

test('pm2 with the preload in NODE_OPTIONS: the CLI and the daemon stay dark', async () => {
  sink().clear();
  const h = await makeHome({ NODE_OPTIONS: '--import=otel-forksafe/register' });
  try {
    const started = await pm2(h, [
      'start',
      fixture('pm2-app.cjs'),
      '--name',
      APP,
      '-i',
      String(INSTANCES),
    ]);
    assert.equal(started.code, 0, describe(started));
    const pids = await waitForInstances(h.port);
    await waitForSpansFrom(pids);
    const ids = new Set(idsByPid(pids).values());
    assert.equal(ids.size, INSTANCES, `4 distinct ids: ${[...ids].join(', ')}`);
    assert.deepEqual(exportingPids(), pids, 'only the 4 app instances export');
  } finally {
    await destroy(h);
  }
});

test('otel-launch pm2-runtime ecosystem.config.cjs: 4 instances with distinct ids', async () => {
  sink().clear();
  const h = await makeHome({
    PATH: `${join(ROOT, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
  });
  let runtime: RunningNode | undefined;
  try {
    runtime = startNode(LAUNCH, {
      args: ['pm2-runtime', fixture('pm2-ecosystem.config.cjs')],
      env: h.env,
      timeoutMs: 60000,
    });
    const pids = await waitForInstances(h.port);
    await waitForSpansFrom(pids);
    const ids = new Set(idsByPid(pids).values());
    assert.equal(ids.size, INSTANCES, `4 distinct ids: ${[...ids].join(', ')}`);
    assert.deepEqual(exportingPids(), pids, 'only the 4 app instances export');
    runtime.child.kill('SIGINT');
    await runtime.exited;
  } finally {
    runtime?.kill();
    await destroy(h);
  }
});

test('pm2 fork mode: the instance is keyed to its instance number; pm2 restart keeps the id', async () => {
  sink().clear();
  const h = await makeHome();
  try {
    const started = await pm2(h, [
      'start',
      fixture('pm2-app.cjs'),
      '--name',
      APP,
      '--node-args=--import otel-forksafe/register',
    ]);
    assert.equal(started.code, 0, describe(started));
    const first = await request(h.port, 1, 200);
    await waitForSpansFrom([first]);
    const restarted = await pm2(h, ['restart', APP]);
    assert.equal(restarted.code, 0, describe(restarted));
    let second = first;
    for (let i = 0; second === first && i < 100; i++) {
      second = await request(h.port, 2 + i, 200);
    }
    assert.notEqual(second, first, 'pm2 restart started a new process');
    await waitForSpansFrom([second]);
    const ids = idsByPid([first, second]);
    assert.match(ids.get(first) ?? '', /-w0$/);
    assert.equal(ids.get(second), ids.get(first), 'the same id after restart');
    const span = sink()
      .spans()
      .find(s => s.resource['process.pid'] === second);
    assert.equal(typeof span?.resource['nodejs.pm2.pm_id'], 'number');
    assert.deepEqual(exportingPids(), new Set([first, second]));
  } finally {
    await destroy(h);
  }
});
