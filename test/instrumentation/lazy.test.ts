// Instrumentation packages load only when the module they patch does: a primary loads no
// OpenTelemetry package at all, a worker loads express's instrumentation when (and only when)
// the app requires express, and an ES module importing node:http gets it just in time.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { moduleNameOf } from '../../src/instrumentation/lazy.ts';
import { byPid, useOtlpSink, type ReceivedSpan } from '../helpers/otlp-sink.ts';
import {
  describe as describeRun,
  fixture,
  hammer,
  killAll,
  startNode,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

describe('moduleNameOf', () => {
  const cases: Array<[string, string | undefined]> = [
    ['express', 'express'],
    ['express/lib/router', 'express'],
    ['@smithy/core', '@smithy/core'],
    ['@smithy/core/dist-cjs/index.js', '@smithy/core'],
    ['node:http', 'http'],
    ['node:fs/promises', 'fs/promises'],
    ['http', 'http'],
    ['./local', undefined],
    ['../up', undefined],
    ['/app/node_modules/pg/lib/index.js', 'pg'],
    [
      '/app/node_modules/a/node_modules/@redis/client/dist/index.js',
      '@redis/client',
    ],
    ['file:///app/node_modules/koa/dist/koa.mjs', 'koa'],
    ['/app/src/server.js', undefined],
  ];
  for (const [request, expected] of cases) {
    test(`${request} -> ${String(expected)}`, () => {
      assert.equal(moduleNameOf(request), expected);
    });
  }
});

interface LoadedReport {
  port: number;
  primary: string[];
  workers: Array<{
    pid: number;
    before: string[];
    after: string[];
    shared: string[];
  }>;
}

const instrumentationsIn = (packages: readonly string[]): string[] =>
  packages.filter(p => p.startsWith('@opentelemetry/instrumentation-'));

test('cluster: the primary loads no OpenTelemetry package; workers load express instrumentation on require', async () => {
  const app = startNode(fixture('loaded-packages-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['2'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
  try {
    const report = JSON.parse(await app.waitForLine('READY')) as LoadedReport;
    assert.deepEqual(report.primary, [], 'primary require.cache');
    assert.equal(report.workers.length, 2);
    for (const w of report.workers) {
      // The API and the instrumentation base come from the preload's one-file bundle, and the
      // app gets that same instance.
      assert.deepEqual(w.shared, [
        '@opentelemetry/api',
        '@opentelemetry/instrumentation',
      ]);
      const before = instrumentationsIn(w.before);
      const added = instrumentationsIn(w.after).filter(
        p => !before.includes(p)
      );
      assert.ok(
        !before.includes('@opentelemetry/instrumentation-express'),
        `express instrumentation not loaded before express: ${before.join(', ')}`
      );
      // express, and http if nothing required it earlier (express does).
      assert.ok(
        added.includes('@opentelemetry/instrumentation-express'),
        added.join(', ')
      );
      for (const p of added)
        assert.ok(
          [
            '@opentelemetry/instrumentation-express',
            '@opentelemetry/instrumentation-http',
          ].includes(p),
          `unexpected ${p}`
        );
      // Nothing for modules the app never loads.
      for (const absent of ['pg', 'mongodb', 'redis', 'ioredis', 'koa'])
        assert.ok(
          !w.after.includes(`@opentelemetry/instrumentation-${absent}`),
          absent
        );
    }
    assert.equal(await hammer(report.port, 20, '/items/3'), 20);
    await sink().waitFor(
      () =>
        report.workers.some(w =>
          byPid(
            sink()
              .spans()
              .filter(s => s.attributes['http.route'] === '/items/:id')
          ).has(w.pid)
        ),
      { what: 'express route spans', timeoutMs: 10000 }
    );
    const expressScopes = sink()
      .spans()
      .filter(s => s.scope.includes('instrumentation-express'));
    assert.ok(expressScopes.length > 0, 'express instrumentation spans');
    assert.ok(!byPid(sink().spans()).has(app.pid), 'nothing from the primary');
    app.send('stop');
    assert.equal((await app.exited).code, 0, describeRun(app));
    assert.deepEqual(unexpectedWarnings(app.stderr), []);
  } finally {
    app.kill();
  }
});

test('ESM app importing node:http directly: http instrumentation loads just in time', async () => {
  const app = startNode(fixture('esm-http-app.mjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_LOG_LEVEL: 'debug',
    },
  });
  try {
    const { port } = JSON.parse(await app.waitForLine('READY')) as {
      port: number;
    };
    assert.equal(await hammer(port, 5, '/esm'), 5);
    // The old or the stable HTTP semantic conventions, whichever the instrumentation uses.
    const isEsmRequest = (s: ReceivedSpan): boolean =>
      s.scope.includes('instrumentation-http') &&
      (s.attributes['http.target'] === '/esm' ||
        s.attributes['url.path'] === '/esm');
    await sink().waitFor(() => sink().spans().some(isEsmRequest), {
      what: 'http server spans for /esm',
      timeoutMs: 10000,
    });
    assert.match(app.stderr, /instrumentation http loaded/);
    app.send('stop');
    assert.equal((await app.exited).code, 0, describeRun(app));
    assert.deepEqual(unexpectedWarnings(app.stderr), []);
  } finally {
    app.kill();
  }
});
