// Nothing lost, nothing changed: every way a process ends, run bare and instrumented in the
// same test. The exit status and signal must be identical, and what the app recorded before
// the end (20 spans, one counter point, one log record) must reach the receiver; with a
// black-holed collector the end may be late by at most OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS + 1 s.
import assert from 'node:assert/strict';
import { after, describe as suite, test } from 'node:test';
import { useOtlpSink, type OtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  killAll,
  startNode,
  unexpectedWarnings,
  type RunningNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();
const blackHole = useOtlpSink({ blackHole: true });

const PRELOAD = ['--import', 'otel-forksafe/register'];
const SPANS = 20;

interface Row {
  name: string;
  mode: string;
  /** Signal the test sends once the app printed READY; none: the app ends by itself. */
  signal?: NodeJS.Signals;
  expect: { code: number | null; signal: NodeJS.Signals | null };
}

const rows: Row[] = [
  { name: 'natural exit', mode: 'natural', expect: { code: 0, signal: null } },
  {
    name: 'process.exitCode = 3',
    mode: 'exit-code',
    expect: { code: 3, signal: null },
  },
  { name: 'process.exit(4)', mode: 'exit', expect: { code: 4, signal: null } },
  {
    name: 'uncaught exception',
    mode: 'throw',
    expect: { code: 1, signal: null },
  },
  {
    name: 'unhandled rejection',
    mode: 'reject',
    expect: { code: 1, signal: null },
  },
  {
    name: 'SIGTERM, no handler',
    mode: 'serve',
    signal: 'SIGTERM',
    expect: { code: null, signal: 'SIGTERM' },
  },
  {
    name: 'SIGINT, no handler',
    mode: 'serve',
    signal: 'SIGINT',
    expect: { code: null, signal: 'SIGINT' },
  },
  {
    name: 'SIGHUP, no handler',
    mode: 'serve',
    signal: 'SIGHUP',
    expect: { code: null, signal: 'SIGHUP' },
  },
  {
    name: 'SIGUSR2 (nodemon restart), no handler',
    mode: 'serve',
    signal: 'SIGUSR2',
    expect: { code: null, signal: 'SIGUSR2' },
  },
  {
    name: 'SIGTERM, app handler closes the server and exits 0',
    mode: 'serve-handler',
    signal: 'SIGTERM',
    expect: { code: 0, signal: null },
  },
  {
    name: "SIGTERM, app once('SIGTERM') handler closes the server",
    mode: 'serve-once',
    signal: 'SIGTERM',
    expect: { code: 0, signal: null },
  },
  {
    name: 'SIGTERM, the app added a handler and removed it again',
    mode: 'serve-removed',
    signal: 'SIGTERM',
    expect: { code: null, signal: 'SIGTERM' },
  },
];

interface Ended {
  app: RunningNode;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** READY line's listenerCount('SIGTERM') as the app saw it (serve modes). */
  listenerCount: string | undefined;
  /** ms from the end being triggered (EXITING printed, or signal sent) to the exit. */
  endMillis: number;
}

let runs = 0;

async function runRow(
  row: Row,
  options: {
    instrumented: boolean;
    runId: string;
    target?: OtlpSink;
    protocol?: 'grpc' | 'http/protobuf';
    timeoutMs?: number;
  }
): Promise<Ended> {
  const target = options.target;
  const protocol = options.protocol ?? 'grpc';
  const app = startNode(fixture('exit-app.cjs'), {
    nodeArgs: options.instrumented ? PRELOAD : [],
    args: [row.mode, options.runId],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT:
        target === undefined
          ? undefined
          : protocol === 'grpc'
            ? target.grpcEndpoint
            : target.httpEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS:
        options.timeoutMs === undefined ? undefined : String(options.timeoutMs),
    },
  });
  app.child.stdin?.end();
  let triggered: number;
  let listenerCount: string | undefined;
  if (row.signal === undefined) {
    await app.waitForLine('EXITING');
    triggered = performance.now();
  } else {
    const ready = await app.waitForLine('READY');
    listenerCount = ready.split(' ')[1];
    triggered = performance.now();
    process.kill(app.pid, row.signal);
  }
  const { code, signal } = await app.exited;
  return {
    app,
    code,
    signal,
    listenerCount,
    endMillis: performance.now() - triggered,
  };
}

function delivered(s: OtlpSink, runId: string) {
  const spans = s
    .spans()
    .filter(x => x.attributes['fixture.run'] === runId && x.name === 'work');
  const points = s
    .metrics()
    .filter(m => m.name === 'exit_app.work')
    .flatMap(m => m.points)
    .filter(p => p.attributes['fixture.run'] === runId);
  const logs = s.logs().filter(l => l.attributes['fixture.run'] === runId);
  return {
    spans: new Set(spans.map(x => x.attributes['fixture.i'])).size,
    maxPoint: Math.max(0, ...points.map(p => p.value ?? 0)),
    logs: logs.length,
  };
}

suite(
  'every way a process ends: same status, telemetry delivered',
  { concurrency: 3 },
  () => {
    for (const row of rows) {
      for (const protocol of ['grpc', 'http/protobuf'] as const) {
        // http/protobuf on the rows that go through the synchronous exit path only.
        if (protocol !== 'grpc' && !['exit', 'throw'].includes(row.mode))
          continue;
        test(`${row.name} (${protocol})`, async () => {
          const runId = `row-${++runs}`;
          const [bare, ours] = await Promise.all([
            runRow(row, { instrumented: false, runId: `${runId}-bare` }),
            runRow(row, {
              instrumented: true,
              runId,
              target: sink(),
              protocol,
            }),
          ]);
          assert.deepEqual(
            { code: bare.code, signal: bare.signal },
            row.expect,
            `bare run\n${describe(bare.app)}`
          );
          assert.deepEqual(
            { code: ours.code, signal: ours.signal },
            row.expect,
            `instrumented run ends exactly as the bare one\n${describe(ours.app)}`
          );
          assert.equal(
            ours.listenerCount,
            bare.listenerCount,
            "process.listenerCount('SIGTERM') as the app sees it"
          );
          await sink().waitFor(
            () => {
              const d = delivered(sink(), runId);
              return d.spans === SPANS && d.maxPoint === SPANS && d.logs >= 1;
            },
            {
              what: `${SPANS} spans, the counter at ${SPANS} and a log record of ${runId}: ${JSON.stringify(delivered(sink(), runId))}\n${describe(ours.app)}`,
              timeoutMs: 5000,
            }
          );
          assert.deepEqual(unexpectedWarnings(ours.app.stderr), []);
        });
      }
    }
  }
);

suite(
  'a black-holed collector holds no exit past the timeout + 1 s',
  { concurrency: 3 },
  () => {
    const TIMEOUT = 1000;
    for (const row of rows) {
      test(row.name, async () => {
        const ours = await runRow(row, {
          instrumented: true,
          runId: `bh-${++runs}`,
          target: blackHole(),
          timeoutMs: TIMEOUT,
        });
        assert.deepEqual(
          { code: ours.code, signal: ours.signal },
          row.expect,
          describe(ours.app)
        );
        assert.ok(
          ours.endMillis <= TIMEOUT + 1000,
          `ended ${Math.round(ours.endMillis)} ms after the trigger (bound ${TIMEOUT + 1000} ms)\n${describe(ours.app)}`
        );
        const notDelivered = ours.app.stderr
          .split('\n')
          .filter(l => /otel-forksafe: .*not delivered/.test(l));
        assert.equal(
          notDelivered.length,
          1,
          `one line says what was not delivered\n${describe(ours.app)}`
        );
      });
    }
  }
);

test('the flush bound ends before a supervisor SIGKILLs (pm2 kill_timeout)', async () => {
  const { boundFor } = await import('../../src/exit/shutdown.ts');
  assert.equal(boundFor(5000, undefined), 5000);
  assert.equal(boundFor(5000, 1600), 1300);
  assert.equal(boundFor(1000, 1600), 1000);
  assert.equal(boundFor(5000, 200), 100);
});
