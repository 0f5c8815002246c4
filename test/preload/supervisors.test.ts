// Hot-reload supervisors: under `node --watch` and nodemon the watching process exports
// nothing, each app generation is instrumented as its own process, and a restart (a file
// change) flushes the old generation's spans before it goes (SIGTERM from node --watch,
// SIGUSR2 from nodemon; the flush itself is issue #3's).
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { byPid, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  ROOT,
  startNode,
  type RunningNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

const NODEMON = join(ROOT, 'node_modules', 'nodemon', 'bin', 'nodemon.js');
const GENERATIONS = 3;
const SERVER = 2;

interface Generation {
  gen: number;
  pid: number;
  port: number;
}

/** A temporary app directory: app.cjs plus gen.cjs exporting `gen`. */
function makeApp(): { dir: string; app: string; setGen: (n: number) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'forksafe-watch-'));
  const app = join(dir, 'app.cjs');
  copyFileSync(fixture('generation-app.cjs'), app);
  const setGen = (n: number): void =>
    writeFileSync(join(dir, 'gen.cjs'), `module.exports = ${n};\n`);
  setGen(0);
  return { dir, app, setGen };
}

const otelEnv = (): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
  // Longer than a restart takes: a generation's request spans are still in its batch when
  // the supervisor stops it, so they arrive only if it flushes on the way out.
  OTEL_BSP_SCHEDULE_DELAY: '2000',
});

/**
 * Drives three generations: each answers 5 requests, then gen.cjs changes and the supervisor
 * restarts the app. Then the supervisor is stopped and the spans are checked.
 */
async function threeGenerations(
  supervisor: RunningNode,
  setGen: (n: number) => void
): Promise<void> {
  const generations: Generation[] = [];
  for (let n = 0; n < GENERATIONS; n++) {
    const rest = await supervisor.waitForLine(`READY {"gen":${n},`, 30000);
    const g = JSON.parse(`{"gen":${n},${rest}`) as Generation;
    generations.push(g);
    assert.equal(await hammer(g.port, 5), 5);
    if (n < GENERATIONS - 1) setGen(n + 1);
  }
  const pids = generations.map(g => g.pid);
  assert.equal(new Set(pids).size, GENERATIONS, 'a new process per generation');
  assert.ok(!pids.includes(supervisor.pid), 'the app is not the supervisor');
  // The last generation is still running: its spans come after the batch delay.
  await sink()
    .waitFor(
      () =>
        pids.every(
          pid =>
            sink()
              .spans()
              .filter(
                s => s.kind === SERVER && s.resource['process.pid'] === pid
              ).length === 5
        ),
      { what: '5 server spans from each generation', timeoutMs: 8000 }
    )
    .catch(() => undefined);
  const counts = pids.map(
    pid =>
      sink()
        .spans()
        .filter(s => s.kind === SERVER && s.resource['process.pid'] === pid)
        .length
  );
  assert.deepEqual(
    counts,
    [5, 5, 5],
    `server spans per generation ${JSON.stringify(pids)}: ${JSON.stringify(counts)}\n${describe(supervisor)}`
  );
  const ids = new Set(
    sink()
      .spans()
      .map(s => s.resource['service.instance.id'])
  );
  assert.equal(ids.size, GENERATIONS, 'each generation has its own identity');
  assert.ok(
    !byPid(sink().spans()).has(supervisor.pid),
    'nothing from the supervisor'
  );
  assert.deepEqual(new Set(byPid(sink().spans()).keys()), new Set(pids));
}

test('node --watch: the watcher is dark, three generations report, restarts lose nothing', async () => {
  sink().clear();
  const { dir, app, setGen } = makeApp();
  const supervisor = startNode(app, {
    nodeArgs: ['--watch', '--import', 'otel-forksafe/register'],
    env: otelEnv(),
    timeoutMs: 60000,
  });
  try {
    await threeGenerations(supervisor, setGen);
  } finally {
    supervisor.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nodemon: nodemon is dark, three generations report, SIGUSR2 restarts lose nothing', async () => {
  sink().clear();
  const { dir, app, setGen } = makeApp();
  const supervisor = startNode(NODEMON, {
    args: ['--watch', dir, '--ext', 'cjs', '--delay', '0', app],
    env: { ...otelEnv(), NODE_OPTIONS: '--import=otel-forksafe/register' },
    timeoutMs: 60000,
  });
  try {
    await threeGenerations(supervisor, setGen);
  } finally {
    supervisor.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
