// `npm run demo`: the main job on an embedded default. Starts an OTLP receiver on loopback,
// runs the 4-worker cluster fixture under otel-launch against it, sends it traffic, and prints
// what arrived per process: every worker reports, the primary does not.
import { byPid, startOtlpSink } from '../test/helpers/otlp-sink.ts';
import { fixture, hammer, ROOT, startNode } from '../test/helpers/run-node.ts';

const WORKERS = 4;

const instanceIdOf = (
  resource: Record<string, unknown> | undefined
): string => {
  const id = resource?.['service.instance.id'];
  return typeof id === 'string' ? id : '-';
};
const sink = await startOtlpSink();
const launcher = `${ROOT}/dist/bin/otel-launch.js`;
const app = startNode(launcher, {
  args: [
    '--service-name',
    'forksafe-demo',
    'node',
    fixture('cluster-app.cjs'),
    String(WORKERS),
  ],
  env: {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.grpcEndpoint,
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_BSP_SCHEDULE_DELAY: '200',
  },
  timeoutMs: 60000,
});
try {
  const ready = JSON.parse(await app.waitForLine('READY')) as {
    port: number;
    workers: number[];
  };
  console.log(
    `cluster up: workers ${ready.workers.join(', ')}; sending 200 requests`
  );
  await hammer(ready.port, 200);
  app.send('stop');
  const done = JSON.parse(await app.waitForLine('DONE')) as { primary: number };
  await app.exited;
  await sink.waitFor(
    () =>
      ready.workers.every(
        pid => byPid(sink.spans()).has(pid) && byPid(sink.metrics()).has(pid)
      ),
    {
      what: 'telemetry from every worker',
      timeoutMs: 15000,
    }
  );
  const spans = byPid(sink.spans());
  const metrics = byPid(sink.metrics());
  const rows = [done.primary, ...ready.workers].map(pid => ({
    role: pid === done.primary ? 'primary' : 'worker',
    pid,
    'service.instance.id': instanceIdOf(spans.get(pid)?.[0]?.resource),
    spans: spans.get(pid)?.length ?? 0,
    'metric points': (metrics.get(pid) ?? []).reduce(
      (n, m) => n + m.points.length,
      0
    ),
  }));
  console.table(rows);
  const ok = rows.every(r =>
    r.role === 'primary' ? r.spans === 0 : r.spans > 0 && r['metric points'] > 0
  );
  console.log(
    ok
      ? 'OK: every worker reported, the primary stayed silent.'
      : 'UNEXPECTED: see the table above.'
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  app.kill();
  await sink.stop();
}
