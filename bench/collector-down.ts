// Load with the collector down (issue #12): a 2-worker express cluster under otel-forksafe,
// driven by autocannon for a while, once per collector state: healthy (our OTLP sink), black
// hole (accepts, never answers) and refused. Reports each worker's RSS after the load and the
// p99 latency, with the healthy run as the reference. Rounds alternate the states, so drift of
// a shared machine spreads over all of them.
//   node --import tsx bench/collector-down.ts [--seconds=20] [--rounds=2] [--protocol=grpc]
// Not a test: a measurement. Writes .tmp/collector-down.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import {
  startFakeCollector,
  type FakeCollector,
} from '../test/helpers/fake-collector.ts';
import { startOtlpSink, type OtlpSink } from '../test/helpers/otlp-sink.ts';
import { hammer, ROOT, startNode } from '../test/helpers/run-node.ts';

const flags = Object.fromEntries(
  process.argv
    .slice(2)
    .map(a => /^--([^=]+)=(.*)$/.exec(a))
    .filter(m => m !== null)
    .map(m => [m[1], m[2]])
) as Record<string, string | undefined>;
const SECONDS = Number(flags.seconds ?? 20);
const ROUNDS = Number(flags.rounds ?? 2);
const PROTOCOL = flags.protocol ?? 'grpc';
const MB = 1024 * 1024;

type State = 'healthy' | 'black-hole' | 'refuse';
const STATES: readonly State[] = ['healthy', 'black-hole', 'refuse'];

interface Run {
  state: State;
  round: number;
  workerRssMB: number[];
  p99Ms: number;
  p50Ms: number;
  rps: number;
}

async function measure(
  state: State,
  round: number,
  endpoint: string
): Promise<Run> {
  const app = startNode(join(ROOT, 'bench', 'fixtures', 'cluster-server.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['2'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: PROTOCOL,
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
    },
    timeoutMs: (SECONDS + 60) * 1000,
  });
  try {
    const ready = JSON.parse(await app.waitForLine('READY')) as {
      port: number;
    };
    await hammer(ready.port, 200);
    const result = await autocannon({
      url: `http://127.0.0.1:${ready.port}/`,
      connections: 10,
      duration: SECONDS,
    });
    // bench/autocannon.d.ts declares only what run.ts reads; the latency percentiles are there.
    const { latency } = result as unknown as {
      latency: { p50: number; p99: number };
    };
    app.send('rss');
    const rss = JSON.parse(await app.waitForLine('RSS ', 10_000)) as {
      workers: number[];
    };
    return {
      state,
      round,
      workerRssMB: rss.workers.map(r => r.valueOf() / MB),
      p99Ms: latency.p99,
      p50Ms: latency.p50,
      rps: result.requests.average,
    };
  } finally {
    app.send('stop');
    const stopped = app.exited;
    const timer = setTimeout(() => app.kill(), 10_000);
    await stopped;
    clearTimeout(timer);
  }
}

const sink: OtlpSink = await startOtlpSink();
const blackHole: FakeCollector = await startFakeCollector('black-hole');
const refused: FakeCollector = await startFakeCollector('refuse');
const endpointOf: Record<State, string> = {
  healthy: PROTOCOL === 'grpc' ? sink.grpcEndpoint : sink.httpEndpoint,
  'black-hole': blackHole.endpoint,
  refuse: refused.endpoint,
};
const runs: Run[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const state of STATES) {
      const run = await measure(state, round, endpointOf[state]);
      runs.push(run);
      console.log(
        `${state.padEnd(10)} round ${round}: worker RSS ${run.workerRssMB.map(r => r.toFixed(1)).join(' / ')} MB, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ${Math.round(run.rps)} req/s`
      );
    }
  }
} finally {
  await sink.stop();
  await blackHole.stop();
  await refused.stop();
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const summary = Object.fromEntries(
  STATES.map(state => {
    const mine = runs.filter(r => r.state === state);
    return [
      state,
      {
        workerRssMB: median(mine.flatMap(r => r.workerRssMB)),
        maxWorkerRssMB: Math.max(...mine.flatMap(r => r.workerRssMB)),
        p99Ms: median(mine.map(r => r.p99Ms)),
        rps: median(mine.map(r => r.rps)),
      },
    ];
  })
);
console.log(JSON.stringify({ protocol: PROTOCOL, seconds: SECONDS, summary }));
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
writeFileSync(
  join(ROOT, '.tmp', 'collector-down.json'),
  JSON.stringify(
    { protocol: PROTOCOL, seconds: SECONDS, runs, summary },
    null,
    2
  )
);
