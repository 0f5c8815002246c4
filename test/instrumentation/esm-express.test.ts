// An ESM cluster app with express under `--import` alone: the preload registers the ESM hook
// itself, and every worker reports express route spans.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { byPid, useOtlpSink, type OtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  startNode,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

test('ESM cluster app: express route spans from every worker', async () => {
  const app = startNode(fixture('cluster-express-app.mjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['4'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
  try {
    const ready = JSON.parse(await app.waitForLine('READY')) as {
      port: number;
      workers: number[];
    };
    assert.equal(await hammer(ready.port, 40, '/users/7'), 40);
    app.send('stop');
    assert.equal((await app.exited).code, 0, describe(app));
    const routeSpans = (): ReturnType<OtlpSink['spans']> =>
      sink()
        .spans()
        .filter(s => s.attributes['http.route'] === '/users/:id');
    await sink().waitFor(
      () => ready.workers.every(pid => byPid(routeSpans()).has(pid)),
      {
        what: 'express route spans from all 4 workers',
        timeoutMs: 10000,
      }
    );
    const expressPids = new Set(
      byPid(
        sink()
          .spans()
          .filter(s => s.scope.includes('instrumentation-express'))
      ).keys()
    );
    assert.deepEqual(
      expressPids,
      new Set(ready.workers),
      'express instrumentation active in every worker'
    );
    assert.ok(!byPid(sink().spans()).has(app.pid), 'nothing from the primary');
    assert.deepEqual(unexpectedWarnings(app.stderr), []);
  } finally {
    app.kill();
  }
});
