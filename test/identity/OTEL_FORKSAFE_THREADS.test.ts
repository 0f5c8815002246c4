// OTEL_FORKSAFE_THREADS: by default a process has one exporting SDK and its worker threads
// (plain Worker, Piscina) stay dormant; with `export` each thread exports under its process's
// service.instance.id with thread.id added.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  killAll,
  runNode,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

const IMPORT = ['--import', 'otel-forksafe/register'];
const env = (threads?: string): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
  OTEL_BSP_SCHEDULE_DELAY: '100',
  OTEL_LOG_LEVEL: 'debug',
  ...(threads === undefined ? {} : { OTEL_FORKSAFE_THREADS: threads }),
});

interface Done {
  pid: number;
  threads: number[];
}

/** Runs the Piscina fixture until its tasks are done and `until` holds; then stops it. */
async function runPiscina(
  threads: string | undefined,
  until: (done: Done) => Promise<void>,
  args: string[] = []
): Promise<{ done: Done; stderr: string }> {
  const app = startNode(fixture('piscina-app.cjs'), {
    nodeArgs: IMPORT,
    args,
    env: env(threads),
  });
  try {
    const done = JSON.parse(await app.waitForLine('DONE')) as Done;
    assert.equal(
      done.threads.length,
      4,
      `4 threads ran tasks\n${describe(app)}`
    );
    await until(done);
    app.send('stop');
    assert.equal((await app.exited).code, 0, describe(app));
    return { done, stderr: app.stderr };
  } finally {
    app.kill();
  }
}

test('Piscina, default: one exporting SDK identity per process, threads dormant', async () => {
  sink().clear();
  const { done, stderr } = await runPiscina(undefined, () =>
    sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.name === 'main-span'),
      { what: 'main-span' }
    )
  );
  const spans = sink().spans();
  assert.ok(!spans.some(s => s.name === 'task'), 'no span from a thread');
  assert.deepEqual(
    new Set(spans.map(s => s.resource['service.instance.id'])).size,
    1,
    'one identity'
  );
  assert.deepEqual(
    new Set(spans.map(s => s.resource['process.pid'])),
    new Set([done.pid])
  );
  const lines = forksafeLines(stderr);
  assert.equal(lines.filter(l => l.includes('SDK started')).length, 1);
  assert.equal(
    lines.filter(l => / thread\] debug: otel-forksafe /.test(l)).length,
    4,
    'the preload ran in each of the 4 threads and did nothing there'
  );
});

test('Piscina, OTEL_FORKSAFE_THREADS=export: task spans carry thread.id under the process identity', async () => {
  sink().clear();
  // Dev note: with Piscina's default `atomics: 'sync'` an idle thread's event loop is
  // blocked in Atomics.wait, so its batch exports only when it gets its next task (README).
  const { done } = await runPiscina(
    'export',
    async () => {
      await sink().waitFor(
        () =>
          sink()
            .spans()
            .filter(s => s.name === 'task').length === 8 &&
          sink()
            .spans()
            .some(s => s.name === 'main-span'),
        { what: '8 task spans and main-span', timeoutMs: 10000 }
      );
    },
    ['disabled']
  );
  const spans = sink().spans();
  const main = spans.find(s => s.name === 'main-span');
  assert.ok(main);
  assert.equal(
    main.resource['thread.id'],
    undefined,
    'main thread: no thread.id'
  );
  const tasks = spans.filter(s => s.name === 'task');
  for (const task of tasks) {
    assert.equal(
      task.resource['service.instance.id'],
      main.resource['service.instance.id']
    );
    assert.equal(task.resource['process.pid'], done.pid);
  }
  assert.deepEqual(
    new Set(tasks.map(s => s.resource['thread.id'])),
    new Set(done.threads),
    'each thread exports with its own thread.id'
  );
});

test('plain Worker, OTEL_FORKSAFE_THREADS=export: a thread that ends flushes its spans', async () => {
  sink().clear();
  const run = await runNode(fixture('worker-thread-app.cjs'), {
    nodeArgs: IMPORT,
    env: env('export'),
  });
  assert.equal(run.code, 0, describe(run));
  await sink().waitFor(
    () =>
      sink()
        .spans()
        .filter(s => s.name === 'thread-span').length === 2 &&
      sink()
        .spans()
        .some(s => s.name === 'main-span'),
    { what: '2 thread spans and main-span' }
  );
  const spans = sink().spans();
  const threadIds = spans
    .filter(s => s.name === 'thread-span')
    .map(s => s.resource['thread.id']);
  assert.deepEqual(
    threadIds.sort(),
    spans
      .filter(s => s.name === 'thread-span')
      .map(s => s.attributes['fixture.thread'])
      .sort()
  );
  assert.equal(
    new Set(spans.map(s => s.resource['service.instance.id'])).size,
    1
  );
});

test('a bad OTEL_FORKSAFE_THREADS value is reported and threads stay dormant', async () => {
  sink().clear();
  const run = await runNode(fixture('worker-thread-app.cjs'), {
    nodeArgs: IMPORT,
    env: env('bogus'),
  });
  assert.equal(run.code, 0, describe(run));
  assert.ok(
    forksafeLines(run.stderr).some(l =>
      l.includes('OTEL_FORKSAFE_THREADS="bogus" is not valid')
    ),
    describe(run)
  );
  await sink().waitFor(
    () =>
      sink()
        .spans()
        .some(s => s.name === 'main-span'),
    { what: 'main-span' }
  );
  assert.ok(
    !sink()
      .spans()
      .some(s => s.name === 'thread-span'),
    'a bad value falls back to dormant'
  );
});
