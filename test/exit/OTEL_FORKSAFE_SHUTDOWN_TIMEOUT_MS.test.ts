// OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS bounds every way a process ends, whatever the collector
// does (test/helpers/fake-collector.ts: refuses, black-holes, trickles a byte a second, resets,
// hangs in the TLS handshake, or has a name that does not resolve), while an export is in
// flight: standalone, in a real cluster (worker.disconnect() from the primary, SIGTERM to the
// whole process group) and at issue #12's scale. Each run ends within the bound + 1 s, with the
// status it would have had uninstrumented, and says in one line what was not delivered.
import assert from 'node:assert/strict';
import { after, describe as suite, test } from 'node:test';
import {
  FAKE_COLLECTOR_MODES,
  useFakeCollectors,
  type FakeCollectorMode,
} from '../helpers/fake-collector.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  startNode,
  unexpectedWarnings,
  type RunningNode,
} from '../helpers/run-node.ts';

after(killAll);
const collector = useFakeCollectors();

const PRELOAD = ['--import', 'otel-forksafe/register'];
const TIMEOUT = 1000;
const BOUND = TIMEOUT + 1000;

function env(
  mode: FakeCollectorMode,
  protocol: 'grpc' | 'http/protobuf' = 'grpc',
  timeout = TIMEOUT
): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector(mode).endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS: String(timeout),
    OTEL_BSP_SCHEDULE_DELAY: '50',
  };
}

/** The diagnostics: at most one line per problem, never a stack frame. */
function assertQuiet(run: RunningNode, notDeliveredLines: number): void {
  const ours = forksafeLines(run.stderr);
  assert.equal(
    ours.filter(l => / not delivered: /.test(l)).length,
    notDeliveredLines,
    `one line per process counts what was not delivered\n${describe(run)}`
  );
  // A stack frame of ours ("at fn (file:line:col)"), folded into a line or on its own. The
  // app's own crash report is the app's.
  for (const line of ours)
    assert.doesNotMatch(line, /\bat \S.*:\d+:\d+/, describe(run));
  assert.doesNotMatch(
    run.stderr,
    /^\s+at .*(otel-forksafe|@opentelemetry|dist[\\/]src)/m,
    describe(run)
  );
  assert.equal(new Set(ours).size, ours.length, describe(run));
  assert.deepEqual(unexpectedWarnings(run.stderr), [], describe(run));
}

interface Ending {
  name: string;
  /** fixtures/end-while-exporting.cjs mode */
  mode: string;
  trigger: 'self' | 'SIGTERM' | 'message';
  expect: { code: number | null; signal: NodeJS.Signals | null };
}

const ENDINGS: Ending[] = [
  {
    name: 'natural end',
    mode: 'natural',
    trigger: 'self',
    expect: { code: 0, signal: null },
  },
  {
    name: 'process.exit(4)',
    mode: 'exit',
    trigger: 'self',
    expect: { code: 4, signal: null },
  },
  {
    name: 'uncaught exception',
    mode: 'throw',
    trigger: 'self',
    expect: { code: 1, signal: null },
  },
  {
    name: 'SIGTERM, no handler',
    mode: 'serve',
    trigger: 'SIGTERM',
    expect: { code: null, signal: 'SIGTERM' },
  },
  {
    name: 'SIGTERM handled by the app, which then ends on its own',
    mode: 'handled',
    trigger: 'SIGTERM',
    expect: { code: 0, signal: null },
  },
  {
    name: "a supervisor's shutdown message (pm2 shutdown_with_message)",
    mode: 'message',
    trigger: 'message',
    expect: { code: 0, signal: null },
  },
];

suite(
  'standalone: every way of ending × every collector failure',
  { concurrency: 3 },
  () => {
    for (const mode of FAKE_COLLECTOR_MODES) {
      for (const ending of ENDINGS) {
        test(`${ending.name}, collector: ${mode}`, async t => {
          const app = startNode(fixture('end-while-exporting.cjs'), {
            nodeArgs: PRELOAD,
            args: [ending.mode],
            env: env(mode),
            ipc: ending.trigger === 'message',
          });
          app.child.stdin?.end();
          let triggered: number;
          if (ending.trigger === 'self') {
            await app.waitForLine('EXITING');
            triggered = performance.now();
          } else {
            await app.waitForLine('READY');
            triggered = performance.now();
            if (ending.trigger === 'message') app.child.send('shutdown');
            else process.kill(app.pid, ending.trigger);
          }
          const { code, signal } = await app.exited;
          const millis = performance.now() - triggered;
          t.diagnostic(`exit after ${Math.round(millis)} ms`);
          assert.deepEqual({ code, signal }, ending.expect, describe(app));
          assert.ok(
            millis <= BOUND,
            `ended ${Math.round(millis)} ms after the trigger (bound ${BOUND} ms)\n${describe(app)}`
          );
          assertQuiet(app, 1);
          assert.match(
            app.stderr,
            /: 50 spans, 0 metric points not delivered: /,
            describe(app)
          );
        });
      }
    }
  }
);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A 2-worker cluster (fixtures/cluster-disconnect-app.cjs) under `requests` requests, then
 * SIGTERM to the primary (which disconnects its workers) or to the whole process group.
 * Resolves with the ms until every process of the cluster is gone.
 */
async function stopCluster(options: {
  env: Record<string, string>;
  requests: number;
  to: 'primary' | 'group';
  limitMs: number;
}): Promise<{ app: RunningNode; millis: number }> {
  const app = startNode(fixture('cluster-disconnect-app.cjs'), {
    nodeArgs: PRELOAD,
    args: ['2'],
    env: options.env,
    timeoutMs: 120000,
  });
  app.child.stdin?.end();
  const ready = JSON.parse(await app.waitForLine('READY')) as {
    port: number;
    workers: number[];
  };
  const lanes = 8;
  const answered = await Promise.all(
    Array.from({ length: lanes }, () =>
      hammer(ready.port, Math.ceil(options.requests / lanes))
    )
  );
  assert.equal(
    answered.reduce((a, b) => a + b, 0),
    Math.ceil(options.requests / lanes) * lanes
  );
  const sent = performance.now();
  process.kill(options.to === 'group' ? -app.pid : app.pid, 'SIGTERM');
  const pids = [app.pid, ...ready.workers];
  while (pids.some(alive) && performance.now() - sent < options.limitMs + 5000)
    await new Promise(r => setTimeout(r, 20));
  const millis = performance.now() - sent;
  await app.exited;
  assert.deepEqual(
    pids.filter(alive),
    [],
    `still alive ${Math.round(millis)} ms after SIGTERM\n${describe(app)}`
  );
  return { app, millis };
}

suite(
  'a real cluster: every collector failure, SIGTERM to the primary or to the process group',
  { concurrency: 2 },
  () => {
    for (const mode of FAKE_COLLECTOR_MODES) {
      for (const to of ['primary', 'group'] as const) {
        test(`collector: ${mode}, SIGTERM to the ${to === 'primary' ? 'primary, which disconnects its workers' : 'process group'}`, async t => {
          const { app, millis } = await stopCluster({
            env: env(mode),
            requests: 400,
            to,
            limitMs: BOUND,
          });
          t.diagnostic(`exit after ${Math.round(millis)} ms`);
          assert.ok(
            millis <= BOUND,
            `cluster gone ${Math.round(millis)} ms after SIGTERM (bound ${BOUND} ms)\n${describe(app)}`
          );
          // Each worker says what it could not deliver; the primary exports nothing.
          assertQuiet(app, 2);
        });
      }
    }
  }
);

suite(
  "issue #12's acceptance: a black-holed collector, 6,000 requests, default bound",
  () => {
    const cases = [
      { protocol: 'grpc', to: 'primary' },
      { protocol: 'http/protobuf', to: 'primary' },
      { protocol: 'grpc', to: 'group' },
    ] as const;
    for (const c of cases) {
      test(`${c.protocol}, SIGTERM to the ${c.to}: the whole cluster is gone within 5 s + 1 s`, async t => {
        const { app, millis } = await stopCluster({
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: collector('black-hole').endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL: c.protocol,
          },
          requests: 6000,
          to: c.to,
          limitMs: 6000,
        });
        t.diagnostic(`exit after ${Math.round(millis)} ms`);
        assert.ok(
          millis <= 6000,
          `cluster gone ${Math.round(millis)} ms after SIGTERM\n${describe(app)}`
        );
        assertQuiet(app, 2);
      });
    }
  }
);
