// Single-process shapes: a standalone app's module-load telemetry, a late fork that turns a
// standalone app into a silent primary, and worker_threads that never start a second SDK.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { byPid, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  runNode,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

const IMPORT = ['--import', 'otel-forksafe/register'];
const env = (): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
  OTEL_BSP_SCHEDULE_DELAY: '100',
  OTEL_METRICS_EXPORTER: 'otlp',
  OTEL_METRIC_EXPORT_INTERVAL: '500',
});

test('standalone: a meter and a span created while the main module loads are exported', async () => {
  sink().clear();
  const app = startNode(fixture('standalone-app.cjs'), {
    nodeArgs: IMPORT,
    env: env(),
  });
  try {
    const port = Number(await app.waitForLine('READY'));
    assert.equal(await hammer(port, 3), 3);
    app.send('stop');
    assert.equal((await app.exited).code, 0, describe(app));
    const points = (): Array<{
      attributes: Record<string, unknown>;
      value?: number;
    }> =>
      sink()
        .metrics()
        .filter(
          m =>
            m.name === 'fixture.module_load' &&
            m.resource['process.pid'] === app.pid
        )
        .flatMap(m => m.points);
    await sink().waitFor(
      () =>
        points().some(p => p.attributes.phase === 'request' && p.value === 3),
      {
        what: 'fixture.module_load with 3 requests',
      }
    );
    const load = points().filter(p => p.attributes.phase === 'load');
    assert.ok(
      load.length > 0 && load.every(p => p.value === 1),
      'the module-load measurement recorded'
    );
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.name === 'module-load'),
      {
        what: 'module-load span',
      }
    );
    assert.equal(byPid(sink().spans()).size, 1);
    assert.ok(
      sink()
        .spans()
        .some(s => s.name === 'GET' && s.resource['process.pid'] === app.pid)
    );
  } finally {
    app.kill();
  }
});

test('late fork: the former standalone goes silent after its first fork', async () => {
  sink().clear();
  const app = startNode(fixture('late-fork-app.cjs'), {
    nodeArgs: IMPORT,
    env: { ...env(), OTEL_LOG_LEVEL: 'debug' },
  });
  try {
    await app.waitForLine('READY');
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.name === 'before-fork'),
      {
        what: 'the standalone span before the fork',
      }
    );
    app.send('fork');
    const done = JSON.parse(await app.waitForLine('DONE')) as {
      worker: number;
    };
    assert.equal((await app.exited).code, 0, describe(app));
    await sink().waitFor(() => byPid(sink().spans()).has(done.worker), {
      what: 'the worker span',
    });
    assert.ok(
      !sink()
        .spans()
        .some(s => s.name === 'after-fork'),
      'no span from the primary after the fork'
    );
    const primaryPhases = sink()
      .metrics()
      .filter(
        m =>
          m.name === 'fixture.late_fork' &&
          m.resource['process.pid'] === app.pid
      )
      .flatMap(m => m.points.map(p => p.attributes.phase));
    assert.ok(
      primaryPhases.includes('before-fork'),
      'metrics recorded before the fork were flushed'
    );
    assert.ok(
      !primaryPhases.includes('after-fork'),
      'no metric point recorded after the fork'
    );
    assert.ok(
      forksafeLines(app.stderr).some(l =>
        l.includes('now a primary; SDK shut down')
      ),
      describe(app)
    );
  } finally {
    app.kill();
  }
});

test('worker_threads: one SDK per process, threads dormant', async () => {
  sink().clear();
  const run = await runNode(fixture('worker-thread-app.cjs'), {
    nodeArgs: IMPORT,
    env: { ...env(), OTEL_LOG_LEVEL: 'debug' },
  });
  assert.equal(run.code, 0, describe(run));
  await sink().waitFor(
    () =>
      sink()
        .spans()
        .some(s => s.name === 'main-span'),
    {
      what: 'main-span',
    }
  );
  assert.ok(
    !sink()
      .spans()
      .some(s => s.name === 'thread-span'),
    'threads export nothing by default'
  );
  assert.equal(
    new Set(
      sink()
        .spans()
        .map(s => s.resource['service.instance.id'])
    ).size,
    1
  );
  const lines = forksafeLines(run.stderr);
  assert.equal(
    lines.filter(l => l.includes('SDK started')).length,
    1,
    describe(run)
  );
  assert.equal(
    lines.filter(l => / thread\] debug: otel-forksafe /.test(l)).length,
    2,
    describe(run)
  );
});

test('the preload given twice (argv and NODE_OPTIONS) starts one SDK', async () => {
  sink().clear();
  const run = await runNode(fixture('worker-thread-app.cjs'), {
    nodeArgs: IMPORT,
    env: {
      ...env(),
      OTEL_LOG_LEVEL: 'debug',
      NODE_OPTIONS: '--require otel-forksafe/register',
    },
  });
  assert.equal(run.code, 0, describe(run));
  const lines = forksafeLines(run.stderr);
  assert.equal(
    lines.filter(l => l.includes('SDK started')).length,
    1,
    describe(run)
  );
  await sink().waitFor(
    () =>
      sink()
        .spans()
        .some(s => s.name === 'main-span'),
    {
      what: 'main-span',
    }
  );
  assert.equal(
    sink()
      .spans()
      .filter(s => s.name === 'main-span').length,
    1
  );
});
