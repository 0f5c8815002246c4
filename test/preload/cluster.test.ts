// node:cluster end to end: a 4-worker HTTP app under every loading route and OTLP protocol.
// Telemetry must come from exactly the worker pids, never the primary, with distinct ids.
import assert from 'node:assert/strict';
import { after, describe as suite, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { byPid, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  startNode,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

const WORKERS = 4;

interface Case {
  name: string;
  script: string;
  nodeArgs: string[];
  env: Record<string, string>;
  protocol: 'grpc' | 'http/protobuf' | 'http/json';
}

const IMPORT = ['--import', 'otel-forksafe/register'];
const cases: Case[] = [
  {
    name: '--import, grpc',
    script: 'cluster-app.cjs',
    nodeArgs: IMPORT,
    env: {},
    protocol: 'grpc',
  },
  {
    name: '--import, http/protobuf',
    script: 'cluster-app.cjs',
    nodeArgs: IMPORT,
    env: {},
    protocol: 'http/protobuf',
  },
  {
    name: '--import, http/json',
    script: 'cluster-app.cjs',
    nodeArgs: IMPORT,
    env: {},
    protocol: 'http/json',
  },
  {
    // A preload after ours (tsx, another agent) must not make the primary start an SDK
    // before its main module has even run.
    name: '--import, then a second --import, grpc',
    script: 'cluster-app.cjs',
    nodeArgs: [
      ...IMPORT,
      '--import',
      pathToFileURL(fixture('empty-preload.mjs')).href,
    ],
    env: {},
    protocol: 'grpc',
  },
  {
    name: '--require, grpc',
    script: 'cluster-app.cjs',
    nodeArgs: ['--require', 'otel-forksafe/register'],
    env: {},
    protocol: 'grpc',
  },
  {
    name: 'NODE_OPTIONS, grpc',
    script: 'cluster-app.cjs',
    nodeArgs: [],
    env: { NODE_OPTIONS: '--import=otel-forksafe/register' },
    protocol: 'grpc',
  },
  {
    name: 'setupPrimary({execArgv: []}), grpc',
    script: 'cluster-setup-primary-app.cjs',
    nodeArgs: IMPORT,
    env: {},
    protocol: 'grpc',
  },
];

after(killAll);
const sink = useOtlpSink();

suite('cluster: every worker reports, the primary never does', () => {
  for (const c of cases) {
    test(c.name, async () => {
      sink().clear();
      const endpoint =
        c.protocol === 'grpc' ? sink().grpcEndpoint : sink().httpEndpoint;
      const app = startNode(fixture(c.script), {
        nodeArgs: c.nodeArgs,
        args: [String(WORKERS)],
        env: {
          ...c.env,
          OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: c.protocol,
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
          OTEL_BSP_SCHEDULE_DELAY: '100',
          OTEL_LOG_LEVEL: 'debug',
        },
      });
      try {
        const ready = JSON.parse(await app.waitForLine('READY')) as {
          port: number;
          workers: number[];
        };
        assert.equal(ready.workers.length, WORKERS);
        assert.equal(await hammer(ready.port, 20), 20);
        app.send('stop');
        const { code, signal } = await app.exited;
        assert.equal(code, 0, describe(app));
        assert.equal(signal, null);
        const workers = new Set(ready.workers);
        await sink().waitFor(
          () =>
            [...workers].every(pid => byPid(sink().spans()).has(pid)) &&
            [...workers].every(pid => byPid(sink().metrics()).has(pid)),
          {
            what: `spans and metrics from workers ${[...workers].join(',')}`,
            timeoutMs: 10000,
          }
        );
        const spanPids = new Set(byPid(sink().spans()).keys());
        const metricPids = new Set(byPid(sink().metrics()).keys());
        assert.deepEqual(
          spanPids,
          workers,
          'spans come from exactly the worker pids'
        );
        assert.deepEqual(
          metricPids,
          workers,
          'metrics come from exactly the worker pids'
        );
        assert.ok(
          !spanPids.has(app.pid) && !metricPids.has(app.pid),
          'nothing from the primary'
        );
        // The runtime metrics too: runtime-node is constructed after the SDK started.
        for (const [pid, metrics] of byPid(sink().metrics())) {
          const names = new Set(metrics.map(m => m.name));
          assert.ok(
            names.has('nodejs.eventloop.utilization') &&
              names.has('v8js.memory.heap.used'),
            `runtime metrics from worker ${pid}: ${[...names].join(', ')}`
          );
        }
        const ids = new Set(
          sink()
            .spans()
            .map(s => s.resource['service.instance.id'])
        );
        assert.equal(
          ids.size,
          WORKERS,
          `distinct service.instance.id per worker: ${[...ids].join(', ')}`
        );
        assert.ok(
          sink()
            .spans()
            .every(s => s.transport === c.protocol)
        );
        assert.ok(
          sink()
            .spans()
            .some(s => s.name === 'GET' && s.kind === 2),
          'http server spans arrive'
        );
        for (const s of sink().spans()) {
          assert.equal(
            s.resource['process.parent_pid'],
            app.pid,
            'workers name the primary as parent'
          );
        }
        const lines = forksafeLines(app.stderr);
        assert.ok(
          lines.some(
            l =>
              l.includes(`[${app.pid} `) && l.includes('patched cluster.fork')
          ),
          describe(app)
        );
        assert.equal(
          lines.filter(l => l.includes('SDK started')).length,
          WORKERS,
          describe(app)
        );
        assert.ok(
          !lines.some(
            l => l.includes(`[${app.pid} `) && l.includes('SDK started')
          ),
          'no SDK in the primary'
        );
        assert.deepEqual(unexpectedWarnings(app.stderr), []);
      } finally {
        app.kill();
      }
    });
  }
});

suite('cluster: worker identity', () => {
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    ...extra,
  });

  test('a worker killed and replaced keeps its service.instance.id, with a new pid', async () => {
    sink().clear();
    const app = startNode(fixture('cluster-app.cjs'), {
      nodeArgs: IMPORT,
      args: [String(WORKERS)],
      env: env(),
    });
    try {
      const ready = JSON.parse(await app.waitForLine('READY')) as {
        port: number;
        workers: number[];
      };
      await sink().waitFor(
        () => ready.workers.every(pid => byPid(sink().spans()).has(pid)),
        {
          what: 'worker-ready spans from every worker',
        }
      );
      const victim = ready.workers[1] ?? -1;
      const idOf = (pid: number): unknown =>
        byPid(sink().spans()).get(pid)?.[0]?.resource['service.instance.id'];
      const victimId = idOf(victim);
      app.send(`kill ${victim}`);
      const replaced = JSON.parse(await app.waitForLine('REPLACED')) as {
        old: number;
        new: number;
      };
      assert.equal(replaced.old, victim);
      assert.notEqual(replaced.new, victim);
      await sink().waitFor(() => byPid(sink().spans()).has(replaced.new), {
        what: 'spans from the replacement',
      });
      assert.equal(idOf(replaced.new), victimId, describe(app));
      const live = [...ready.workers.filter(p => p !== victim), replaced.new];
      assert.equal(
        new Set(live.map(idOf)).size,
        WORKERS,
        'ids still distinct among live workers'
      );
      app.send('stop');
      assert.equal((await app.exited).code, 0, describe(app));
    } finally {
      app.kill();
    }
  });

  test('a service.instance.id from OTEL_RESOURCE_ATTRIBUTES becomes one id per worker', async () => {
    sink().clear();
    const app = startNode(fixture('cluster-app.cjs'), {
      nodeArgs: IMPORT,
      args: [String(WORKERS)],
      env: env({
        OTEL_RESOURCE_ATTRIBUTES:
          'service.instance.id=pod-1,deployment.environment.name=test',
        OTEL_LOG_LEVEL: 'debug',
      }),
    });
    try {
      const ready = JSON.parse(await app.waitForLine('READY')) as {
        port: number;
        workers: number[];
      };
      app.send('stop');
      assert.equal((await app.exited).code, 0, describe(app));
      await sink().waitFor(
        () => ready.workers.every(pid => byPid(sink().spans()).has(pid)),
        {
          what: 'spans from every worker',
        }
      );
      const ids = new Set(
        sink()
          .spans()
          .map(s => s.resource['service.instance.id'])
      );
      assert.deepEqual([...ids].sort(), [
        'pod-1-w0',
        'pod-1-w1',
        'pod-1-w2',
        'pod-1-w3',
      ]);
      assert.ok(
        sink()
          .spans()
          .every(s => s.resource['deployment.environment.name'] === 'test')
      );
      const said = forksafeLines(app.stderr).filter(l =>
        l.includes('is shared by every worker')
      );
      assert.equal(
        said.length,
        WORKERS,
        'each worker says once, at debug level, that it derived its id'
      );
    } finally {
      app.kill();
    }
  });
});
