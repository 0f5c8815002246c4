// OTEL_METRICS_EXPORTER=prometheus on a 2-worker node:cluster app, scraped by a real Prometheus
// server (started by the test on 127.0.0.1, with its own config and data dir): one endpoint,
// every worker's series under its pid and service.instance.id, request counters adding up to
// the requests sent, nothing over OTLP from the primary, no EADDRINUSE anywhere.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  freePort,
  startPrometheusServer,
  type PrometheusServer,
} from '../helpers/prometheus-server.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  startNode,
  unexpectedWarnings,
  type RunningNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();
const REQUESTS = 40;

interface Ready {
  port: number;
  workers: number[];
}

async function startCluster(
  metricsExporter: string,
  promPort: number
): Promise<{ app: RunningNode; ready: Ready }> {
  const app = startNode(fixture('cluster-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['2'],
    env: {
      OTEL_METRICS_EXPORTER: metricsExporter,
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(promPort),
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
      OTEL_SERVICE_NAME: 'prom-cluster',
    },
    timeoutMs: 60000,
  });
  const ready = JSON.parse(await app.waitForLine('READY ')) as Ready;
  return { app, ready };
}

async function stop(app: RunningNode): Promise<void> {
  app.send('stop');
  const timer = setTimeout(() => app.kill(), 10000);
  await app.exited;
  clearTimeout(timer);
}

/** Every worker's series, by pid and by service_instance_id, and the counters adding up. */
async function checkScraped(
  prom: PrometheusServer,
  ready: Ready
): Promise<void> {
  const pids = ready.workers.map(String).sort();
  // Each worker's target_info and counter, labelled with its pid and instance id.
  const byPid = await prom.waitFor(
    'count by (process_pid, service_instance_id) (fixture_requests_total)',
    s => s.length === 2
  );
  assert.deepEqual(byPid.map(s => s.metric.process_pid).sort(), pids);
  const ids = byPid.map(s => s.metric.service_instance_id ?? '').sort();
  assert.equal(new Set(ids).size, 2, `two instance ids: ${ids.join(', ')}`);
  assert.match(ids[0] ?? '', /-w0$/);
  assert.match(ids[1] ?? '', /-w1$/);
  const info = await prom.query('target_info{service_name="prom-cluster"}');
  assert.deepEqual(info.map(s => s.metric.process_pid).sort(), pids);

  // The requests the test sent, counted by the app's counter and by the http instrumentation.
  await prom.waitFor(
    'sum(fixture_requests_total{route="/hit"})',
    s => s[0]?.value === REQUESTS
  );
  await prom.waitFor(
    'sum(http_server_request_duration_count)',
    s => s[0]?.value === REQUESTS
  );
  // Both workers took part (the primary shares the listening handle round-robin).
  const perWorker = await prom.query(
    'sum by (process_pid) (http_server_request_duration_count)'
  );
  assert.equal(perWorker.length, 2, JSON.stringify(perWorker));
  const status = await prom.query('otel_forksafe_scrape_processes');
  assert.equal(status[0]?.value, 2);
  const left = await prom.query('otel_forksafe_scrape_processes_left_out');
  assert.equal(left[0]?.value, 0);
  const up = await prom.query('up');
  assert.equal(up[0]?.value, 1, JSON.stringify(await prom.targets()));
}

for (const exporter of ['prometheus', 'otlp,prometheus']) {
  test(`OTEL_METRICS_EXPORTER=${exporter}: Prometheus scrapes both workers of a 2-worker cluster through one endpoint`, async () => {
    sink().clear();
    const promPort = await freePort();
    const prom = await startPrometheusServer(`127.0.0.1:${promPort}`);
    let app: RunningNode | undefined;
    try {
      const started = await startCluster(exporter, promPort);
      app = started.app;
      const { ready } = started;
      assert.equal(
        await hammer(ready.port, REQUESTS, '/hit'),
        REQUESTS,
        describe(app)
      );
      await checkScraped(prom, ready);
      if (exporter.includes('otlp')) {
        // Both: the same counter reached the OTLP sink from both workers.
        await sink().waitFor(
          () =>
            ready.workers.every(pid =>
              sink()
                .metrics()
                .some(
                  m =>
                    m.name === 'fixture.requests' &&
                    m.resource['process.pid'] === pid
                )
            ),
          { what: 'OTLP metrics from both workers', timeoutMs: 10000 }
        );
      }
      await stop(app);
      // The primary exported nothing over OTLP; only the workers did.
      const exporting = new Set([
        ...sink()
          .spans()
          .map(s => Number(s.resource['process.pid'])),
        ...sink()
          .metrics()
          .map(m => Number(m.resource['process.pid'])),
      ]);
      assert.ok(!exporting.has(app.pid), 'the primary exported nothing');
      assert.ok(exporting.size > 0, 'the workers exported spans');
      assert.doesNotMatch(app.stderr, /EADDRINUSE/, describe(app));
      assert.deepEqual(forksafeLines(app.stderr), [], describe(app));
      assert.deepEqual(unexpectedWarnings(app.stderr), []);
    } finally {
      app?.kill();
      await prom.stop();
    }
  });
}
