// throng: the same outcome as node:cluster. The primary throng runs is silent, every worker
// exports under its own service.instance.id, a worker throng revives gets its slot's id back,
// and SIGTERM to the primary (relayed by throng) loses nothing the workers answered.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
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

after(killAll);
const sink = useOtlpSink();

const WORKERS = 4;
const SERVER = 2;

interface Ready {
  port: number;
  workers: number[];
}

function startThrong(): ReturnType<typeof startNode> {
  return startNode(fixture('throng-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: [String(WORKERS)],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_LOG_LEVEL: 'debug',
    },
  });
}

function idOf(pid: number): string {
  const ids = new Set(
    sink()
      .spans()
      .filter(s => s.resource['process.pid'] === pid)
      .map(s => String(s.resource['service.instance.id']))
  );
  assert.equal(ids.size, 1, `pid ${pid}: one id`);
  return [...ids][0] ?? '';
}

test('throng: workers export with distinct ids, the primary never does, a revived worker keeps its id', async () => {
  sink().clear();
  const app = startThrong();
  try {
    const ready = JSON.parse(await app.waitForLine('READY')) as Ready;
    assert.equal(ready.workers.length, WORKERS);
    assert.equal(await hammer(ready.port, 20), 20);
    const workers = new Set(ready.workers);
    await sink().waitFor(
      () => [...workers].every(pid => byPid(sink().spans()).has(pid)),
      { what: `spans from workers ${[...workers].join(',')}` }
    );
    const ids = new Map([...workers].map(pid => [pid, idOf(pid)]));
    assert.equal(new Set(ids.values()).size, WORKERS, 'distinct ids');
    for (const s of sink().spans()) {
      assert.equal(s.resource['process.parent_pid'], app.pid);
    }

    const victim = ready.workers[1] ?? 0;
    app.send(`kill ${victim}`);
    const replaced = JSON.parse(await app.waitForLine('REPLACED')) as {
      old: number;
      new: number;
    };
    assert.equal(replaced.old, victim);
    await sink().waitFor(() => byPid(sink().spans()).has(replaced.new), {
      what: 'a span from the revived worker',
    });
    assert.equal(
      idOf(replaced.new),
      ids.get(victim),
      'the revived worker reports under the id of the worker it replaced'
    );
    assert.ok(!byPid(sink().spans()).has(app.pid), 'nothing from the primary');
    const lines = forksafeLines(app.stderr);
    assert.ok(
      !lines.some(l => l.includes(`[${app.pid} `) && l.includes('SDK started')),
      describe(app)
    );
    assert.deepEqual(unexpectedWarnings(app.stderr), []);
  } finally {
    app.kill();
  }
});

test('throng: SIGTERM to the primary; every request answered before it has its span', async () => {
  sink().clear();
  const app = startThrong();
  try {
    const ready = JSON.parse(await app.waitForLine('READY')) as Ready;
    assert.equal(await hammer(ready.port, 40), 40);
    // At once: the workers still hold these spans in their 100 ms batch.
    app.send('term');
    const { code, signal } = await app.exited;
    assert.ok(code === 0 || signal === 'SIGTERM', describe(app));
    const requestSpans = (): number =>
      sink()
        .spans()
        .filter(s => s.kind === SERVER).length;
    await sink()
      .waitFor(() => requestSpans() === 40, { what: '40 server spans' })
      .catch(() => undefined);
    assert.equal(
      requestSpans(),
      40,
      `server spans after SIGTERM (workers flush on SIGTERM: issue #3)\n${describe(app)}`
    );
    assert.ok(!byPid(sink().spans()).has(app.pid), 'nothing from the primary');
  } finally {
    app.kill();
  }
});
