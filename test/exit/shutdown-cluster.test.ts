// Workers end all the time in production: deploys replace them (worker.disconnect(),
// worker.kill()), the primary gets SIGTERM from Kubernetes, a worker crashes. Every request a
// worker answered must leave its server span at the receiver, and every worker must end the
// way it would have ended uninstrumented.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe as suite, test } from 'node:test';
import { byPid, useOtlpSink, type OtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

const PRELOAD = ['--import', 'otel-forksafe/register'];

function env(s: OtlpSink, protocol: 'grpc' | 'http/protobuf') {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT:
      protocol === 'grpc' ? s.grpcEndpoint : s.httpEndpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  };
}

/** One GET of /r/<id>; resolves with the status, or 0 on a connection error. */
function get(port: number, id: string): Promise<number> {
  return new Promise(resolve => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: `/r/${id}`,
        agent: false,
        timeout: 5000,
      },
      res => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      }
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

/** The request path a server span records (new or old HTTP semantic conventions). */
function pathOf(attributes: Record<string, unknown>): string {
  const path = attributes['url.path'] ?? attributes['http.target'];
  return typeof path === 'string' ? path : '';
}

/** The ids of the server spans (path /r/<id>) that arrived. */
function servedIds(s: OtlpSink, run: string): Set<string> {
  const ids = new Set<string>();
  for (const span of s.spans()) {
    if (span.kind !== 2) continue;
    const path = pathOf(span.attributes);
    const m = /^\/r\/([^/?]+)/.exec(path);
    if (m?.[1]?.startsWith(`${run}-`)) ids.add(m[1]);
  }
  return ids;
}

let runs = 0;

suite('rolling restart under load', () => {
  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    test(`2,000 requests while every worker is replaced by disconnect(), then by kill('SIGTERM') (${protocol})`, async () => {
      const run = `roll${++runs}`;
      const app = startNode(fixture('rolling-cluster-app.cjs'), {
        nodeArgs: PRELOAD,
        args: ['4'],
        env: { ...env(sink(), protocol), OTEL_BSP_SCHEDULE_DELAY: '200' },
        timeoutMs: 60000,
      });
      const ready = JSON.parse(await app.waitForLine('READY')) as {
        port: number;
        workers: number[];
      };
      const TOTAL = 2000;
      const served: string[] = [];
      let next = 0;
      let rolled = false;
      let failures = 0;
      // Both rolls run while requests flow: the last 200 requests wait for them to finish.
      const rolls = (async () => {
        while (served.length < 200) await new Promise(r => setTimeout(r, 10));
        app.send('roll disconnect');
        await app.waitForLine('ROLLED disconnect', 30000);
        app.send('roll kill');
        await app.waitForLine('ROLLED kill', 30000);
        rolled = true;
      })();
      const client = async (): Promise<void> => {
        for (;;) {
          const i = next++;
          if (i >= TOTAL) return;
          while (i >= TOTAL - 200 && !rolled)
            await new Promise(r => setTimeout(r, 20));
          const id = `${run}-${i}`;
          // A request caught by a worker's end fails on the client: retry it, like a client.
          for (let attempt = 0; ; attempt++) {
            if ((await get(ready.port, id)) === 200) break;
            failures++;
            assert.ok(attempt < 20, `request ${id} keeps failing`);
          }
          served.push(id);
        }
      };
      await Promise.all([rolls, ...Array.from({ length: 6 }, client)]);
      assert.equal(served.length, TOTAL);
      const rolledPids = JSON.parse(
        app.stdout.match(/^ROLLED kill (.*)$/m)?.[1] ?? '[]'
      ) as number[];
      assert.equal(rolledPids.length, 12, 'three generations of 4 workers');
      app.send('stop');
      const { code } = await app.exited;
      assert.equal(code, 0, describe(app));

      await sink().waitFor(() => servedIds(sink(), run).size >= TOTAL, {
        what: `server spans of all ${TOTAL} answered requests (have ${servedIds(sink(), run).size}; ${failures} client retries)\n${describe(app)}`,
        timeoutMs: 15000,
      });
      const missing = served.filter(id => !servedIds(sink(), run).has(id));
      assert.deepEqual(missing, [], 'every answered request has its span');
      const pids = new Set(
        [...byPid(sink().spans()).keys()].filter(p => rolledPids.includes(p))
      );
      assert.ok(
        pids.size >= 8,
        `spans from the replaced workers too (${pids.size} worker pids)`
      );
      assert.ok(
        !byPid(sink().spans()).has(app.pid),
        'nothing from the primary'
      );
    });
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('SIGTERM to the primary right after the last response: every span arrives, the cluster is gone within the timeout', async () => {
  // The bound is generous on purpose: an orphaned worker ends in well under a second, but
  // this must hold on a loaded CI machine too.
  const TIMEOUT = 5000;
  const results: Record<string, unknown> = {};
  for (const instrumented of [false, true]) {
    const app = startNode(fixture('rolling-cluster-app.cjs'), {
      nodeArgs: instrumented ? PRELOAD : [],
      args: ['4'],
      env: {
        ...env(sink(), 'grpc'),
        OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS: String(TIMEOUT),
        // Nothing leaves before the end: the spans are all in the queue at SIGTERM.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      },
    });
    const ready = JSON.parse(await app.waitForLine('READY')) as {
      port: number;
      workers: number[];
    };
    const run = `term${++runs}`;
    for (let i = 0; i < 200; i++)
      assert.equal(await get(ready.port, `${run}-${i}`), 200);
    const sent = performance.now();
    process.kill(app.pid, 'SIGTERM');
    const { code, signal } = await app.exited;
    while (
      ready.workers.some(alive) &&
      performance.now() - sent < TIMEOUT + 1000
    )
      await new Promise(r => setTimeout(r, 25));
    const left = ready.workers.filter(alive);
    assert.deepEqual(
      left,
      [],
      `workers still alive ${TIMEOUT + 1000} ms after SIGTERM`
    );
    results[instrumented ? 'ours' : 'bare'] = { code, signal };
    if (instrumented) {
      await sink().waitFor(() => servedIds(sink(), run).size === 200, {
        what: `200 server spans (have ${servedIds(sink(), run).size})\n${describe(app)}`,
        timeoutMs: 5000,
      });
    }
  }
  assert.deepEqual(results['ours'], results['bare']);
  assert.deepEqual(results['bare'], { code: null, signal: 'SIGTERM' });
});

test('a worker that served K requests and then throws: K server spans, status 1', async () => {
  const K = 25;
  const run = `crash${++runs}`;
  const exits: string[] = [];
  for (const instrumented of [false, true]) {
    const app = startNode(fixture('crash-worker-app.cjs'), {
      nodeArgs: instrumented ? PRELOAD : [],
      args: [String(K)],
      env: { ...env(sink(), 'grpc'), OTEL_BSP_SCHEDULE_DELAY: '60000' },
    });
    const port = Number(await app.waitForLine('READY'));
    assert.equal(await hammer(port, K, `/r/${run}-x`), K);
    exits.push(await app.waitForLine('WORKER_EXIT'));
    await app.exited;
    if (instrumented) {
      await sink().waitFor(
        () =>
          sink()
            .spans()
            .filter(
              s =>
                s.kind === 2 && pathOf(s.attributes).startsWith(`/r/${run}-x`)
            ).length === K,
        { what: `${K} server spans\n${describe(app)}`, timeoutMs: 5000 }
      );
    }
  }
  assert.deepEqual(exits, [
    JSON.stringify({ code: 1, signal: null }),
    JSON.stringify({ code: 1, signal: null }),
  ]);
});
