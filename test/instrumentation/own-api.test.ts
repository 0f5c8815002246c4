// An app that brings its own, older @opentelemetry/api (1.9.0, next to our 1.10): the counter
// it creates while loading and the span it starts per request both arrive, the span a child of
// the server span. The app runs from a temporary directory whose node_modules holds only its
// API copy, so it cannot resolve ours; the preload is given by file URL.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { byPid, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  ROOT,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();
const PRELOAD = pathToFileURL(join(ROOT, 'dist', 'register.js')).href;
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'otel-forksafe-own-api-'));
  cpSync(fixture('own-api-app.cjs'), join(dir, 'app.cjs'));
  // The devDependency alias otel-api-1.9 is @opentelemetry/api@1.9.0.
  cpSync(
    join(ROOT, 'node_modules', 'otel-api-1.9'),
    join(dir, 'node_modules', '@opentelemetry', 'api'),
    { recursive: true }
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const workers of [0, 2]) {
  const shape = workers === 0 ? 'a standalone app' : 'a 2-worker cluster';
  test(`${shape} with its own API 1.9.0: module-load counter and manual child spans arrive`, async () => {
    sink().clear();
    const run = startNode(join(dir, 'app.cjs'), {
      nodeArgs: ['--import', PRELOAD],
      args: [String(workers)],
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        // Metrics at the default interval: they arrive with the exit flush.
        OTEL_METRICS_EXPORTER: 'otlp',
      },
    });
    try {
      const ready = JSON.parse(await run.waitForLine('READY')) as {
        port: number;
        api: string;
        pids: number[];
      };
      assert.equal(ready.api, '1.9.0', 'the app really uses its own copy');
      assert.equal(await hammer(ready.port, 12), 12, describe(run));
      // Cumulative per process: the latest (largest) value of each process, added up.
      const handled = (): number =>
        [
          ...byPid(
            sink()
              .metrics()
              .filter(m => m.name === 'app.handled')
          ).values(),
        ].reduce(
          (sum, records) =>
            sum +
            Math.max(
              0,
              ...records.flatMap(m => m.points.map(p => p.value ?? 0))
            ),
          0
        );
      run.send('stop');
      assert.equal((await run.exited).code, 0, describe(run));
      await sink().waitFor(
        () =>
          sink()
            .spans()
            .filter(s => s.name === 'load-user').length === 12 &&
          handled() === 12,
        { what: '12 load-user spans and app.handled = 12' }
      );
      const spans = sink().spans();
      const servers = new Map(
        spans.filter(s => s.kind === 2).map(s => [s.spanId, s])
      );
      for (const span of spans.filter(s => s.name === 'load-user')) {
        const parent = servers.get(span.parentSpanId);
        assert.ok(parent, 'load-user is a child of a server span');
        assert.equal(parent.traceId, span.traceId);
      }
      assert.deepEqual(
        [...byPid(spans).keys()].sort(),
        [...ready.pids].sort(),
        'spans from the serving processes only'
      );
      assert.equal(run.stderr, '');
    } finally {
      run.kill();
    }
  });
}
