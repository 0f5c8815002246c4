// A 2-worker express cluster shaped like real apps (express loaded before the fork), as an ES
// module and as CommonJS, under each way of loading the preload: the app's stderr is what it
// is without us (empty), every worker exports, every server span has http.route, and the
// primary exports nothing. On Node 26 this also proves no deprecated API (module.register,
// DEP0205) runs: its warning would land on stderr.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { byPid, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

interface Ready {
  port: number;
  primary: number;
  workers: number[];
}

const ROUTES: ReadonlyArray<[path: string, route: string]> = [
  ['/users/7', '/users/:id'],
  ['/api/orders/42', '/api/orders/:orderId'],
];

// Runs the app, sends 10 requests per route, stops it; returns what it printed.
async function runCluster(
  app: string,
  load: { nodeArgs?: string[]; nodeOptions?: string },
  instrumented: boolean
): Promise<{ ready: Ready; stderr: string }> {
  const run = startNode(fixture(app), {
    nodeArgs: load.nodeArgs ?? [],
    args: ['2'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      // Metrics at the default interval: they arrive with the workers' exit flush.
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_SDK_DISABLED: instrumented ? undefined : 'true',
      NODE_OPTIONS: load.nodeOptions,
    },
  });
  try {
    const ready = JSON.parse(await run.waitForLine('READY')) as Ready;
    for (const [path] of ROUTES)
      assert.equal(await hammer(ready.port, 10, path), 10, describe(run));
    run.send('stop');
    const { code, signal } = await run.exited;
    assert.deepEqual(
      { code, signal },
      { code: 0, signal: null },
      describe(run)
    );
    return { ready, stderr: run.stderr };
  } finally {
    run.kill();
  }
}

const LOADS: ReadonlyArray<{
  name: string;
  nodeArgs?: string[];
  nodeOptions?: string;
}> = [
  { name: '--import', nodeArgs: ['--import', 'otel-forksafe/register'] },
  { name: '--require', nodeArgs: ['--require', 'otel-forksafe/register'] },
  { name: 'NODE_OPTIONS', nodeOptions: '--import otel-forksafe/register' },
];

for (const app of ['express-cluster-app.mjs', 'express-cluster-app.cjs']) {
  test(`${app} without us: the baseline stderr is empty`, async () => {
    sink().clear();
    const { stderr } = await runCluster(app, LOADS[0]!, false);
    assert.equal(stderr, '');
    assert.equal(sink().spans().length, 0);
  });
  for (const load of LOADS) {
    test(`${app} with ${load.name}: every worker exports with http.route, the primary nothing, stderr untouched`, async () => {
      sink().clear();
      const { ready, stderr } = await runCluster(app, load, true);
      assert.equal(stderr, '', 'stderr as without us');
      const serverSpans = (): ReturnType<ReturnType<typeof sink>['spans']> =>
        sink()
          .spans()
          .filter(s => s.kind === 2);
      await sink().waitFor(
        () =>
          serverSpans().length >= 20 &&
          ready.workers.every(pid => byPid(sink().metrics()).has(pid)),
        { what: '20 server spans and metrics from both workers' }
      );
      const spans = serverSpans();
      assert.equal(spans.length, 20, 'one server span per request');
      assert.deepEqual(
        [...byPid(spans).keys()].sort(),
        [...ready.workers].sort(),
        'server spans from both workers'
      );
      const routes = new Set(ROUTES.map(([, route]) => route));
      for (const span of spans)
        assert.ok(
          routes.has(span.attributes['http.route'] as string),
          `server span without a route: ${JSON.stringify(span.attributes)}`
        );
      assert.ok(
        !byPid(sink().spans()).has(ready.primary),
        'no span from the primary'
      );
      assert.ok(
        !byPid(sink().metrics()).has(ready.primary),
        'no metric from the primary'
      );
    });
  }
}
