// Under real pm2 (cluster mode, 2 instances): `pm2 stop` (SIGINT, no app handler) and pm2's
// shutdown message (--shutdown-with-message; the app closes its server and exits 0, as pm2's
// documentation shows: a pm2 app container does not end on its own)
// end the instances while an export is in flight to a broken collector. pm2 stops instances one
// after the other; instrumented, each takes at most OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS + 1 s longer
// than in the same stop of the bare app, and pm2 never has to SIGKILL (the bound is cut to end
// before pm2's kill_timeout).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  useFakeCollectors,
  type FakeCollectorMode,
} from '../helpers/fake-collector.ts';
import {
  destroyPm2,
  freePort,
  makePm2Home,
  onlinePids,
  pm2,
  pm2Log,
} from '../helpers/pm2.ts';
import { describe, fixture, killAll } from '../helpers/run-node.ts';

after(killAll);
const MODES: FakeCollectorMode[] = ['black-hole', 'refuse', 'tls-hang'];
const collector = useFakeCollectors(MODES);
const TIMEOUT = 1000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts 2 instances and stops them. pm2 stops instances one after the other, so each one's
 * time is measured from the end of the one before (the first from `pm2 stop`).
 */
async function stopMillis(options: {
  instrumented: boolean;
  mode: FakeCollectorMode;
  message: boolean;
}): Promise<{ millis: number[]; log: string }> {
  const h = makePm2Home({
    PORT: String(await freePort()),
    OTEL_EXPORTER_OTLP_ENDPOINT: collector(options.mode).endpoint,
    OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS: String(TIMEOUT),
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
  });
  try {
    const started = await pm2(h, [
      'start',
      fixture('end-while-exporting.cjs'),
      '--name',
      'app',
      '-i',
      '2',
      ...(options.message ? ['--shutdown-with-message'] : []),
      ...(options.instrumented
        ? ['--node-args=--import otel-forksafe/register']
        : []),
      '--',
      options.message ? 'message-exit' : 'serve',
    ]);
    assert.equal(started.code, 0, describe(started));
    let pids: number[] = [];
    for (let i = 0; i < 100 && pids.length < 2; i++) {
      pids = await onlinePids(h);
      if (pids.length < 2) await new Promise(r => setTimeout(r, 100));
    }
    assert.equal(pids.length, 2, `2 instances online\n${pm2Log(h)}`);
    // The fixture's export starts ~350 ms after the instance does.
    await new Promise(r => setTimeout(r, 600));
    const sent = performance.now();
    const stopping = pm2(h, ['stop', 'app']);
    // When each instance was seen gone, in the order they went.
    const goneAt = new Map<number, number>();
    while (goneAt.size < pids.length && performance.now() - sent < 15000) {
      for (const pid of pids)
        if (!goneAt.has(pid) && !alive(pid))
          goneAt.set(pid, performance.now() - sent);
      await new Promise(r => setTimeout(r, 10));
    }
    const stopped = await stopping;
    assert.equal(stopped.code, 0, describe(stopped));
    assert.deepEqual(pids.filter(alive), [], 'the instances ended');
    const times = [...goneAt.values()].sort((a, b) => a - b);
    return {
      millis: times.map((t, i) => t - (i === 0 ? 0 : (times[i - 1] ?? 0))),
      log: pm2Log(h),
    };
  } finally {
    await destroyPm2(h);
  }
}

for (const message of [false, true]) {
  for (const mode of MODES) {
    const how = message ? 'the shutdown message' : 'pm2 stop (SIGINT)';
    test(`pm2 cluster mode, ${how}, collector: ${mode}: ends within the bound, no SIGKILL`, async t => {
      const bare = await stopMillis({ instrumented: false, mode, message });
      const ours = await stopMillis({ instrumented: true, mode, message });
      const ms = (xs: number[]) => xs.map(x => Math.round(x)).join(' + ');
      t.diagnostic(
        `per instance, pm2 stop to gone: bare ${ms(bare.millis)} ms, instrumented ${ms(ours.millis)} ms`
      );
      ours.millis.forEach((m, i) =>
        assert.ok(
          m <= (bare.millis[i] ?? 0) + TIMEOUT + 1000,
          `instance ${i}: instrumented ${ms(ours.millis)} ms vs bare ${ms(bare.millis)} ms\n${ours.log}`
        )
      );
      assert.doesNotMatch(ours.log, /sending SIGKILL/, ours.log);
    });
  }
}
