// `otel-launch doctor` for OTEL_METRICS_EXPORTER=prometheus: scrapes the one endpoint once and
// lists the processes it saw (from their target_info series). Loaded by doctor.ts only then.
import { request } from 'node:http';
import type { PrometheusConfig } from '../config/types.ts';

/** The doctor's verdict on the endpoint. */
export interface PrometheusCheck {
  readonly url: string;
  readonly ok: boolean;
  readonly message: string;
}

/** The endpoint's URL as a scraper would write it. */
export function prometheusUrl(config: PrometheusConfig): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port}/metrics`;
}

/** `pid 123 (<instance id>)` for every target_info series of an exposition. */
export function processesIn(body: string): string[] {
  const out: string[] = [];
  for (const line of body.split('\n')) {
    if (!line.startsWith('target_info{')) continue;
    const pid = /[{,]process_pid="(\d+)"/.exec(line)?.[1];
    const id = /[{,]service_instance_id="([^"]*)"/.exec(line)?.[1];
    out.push(`pid ${pid ?? '?'} (${id ?? 'no service.instance.id'})`);
  }
  return out;
}

/** GETs the endpoint once (3 s at most). Never throws. */
export function checkPrometheus(
  config: PrometheusConfig
): Promise<PrometheusCheck> {
  const url = prometheusUrl(config);
  return new Promise(resolve => {
    const req = request(
      url,
      {
        timeout: 3000,
        headers: { 'x-prometheus-scrape-timeout-seconds': '3' },
      },
      res => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            resolve({
              url,
              ok: false,
              message: `the endpoint answered HTTP ${res.statusCode}`,
            });
            return;
          }
          const seen = processesIn(body);
          const left = /^otel_forksafe_scrape_processes_left_out (\d+)/m.exec(
            body
          )?.[1];
          resolve({
            url,
            ok: true,
            message: `the endpoint answers; ${seen.length} process(es): ${seen.join(', ') || 'none yet'}${left !== undefined && left !== '0' ? `; ${left} did not answer in time` : ''}`,
          });
        });
      }
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }))
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({
        url,
        ok: false,
        message:
          err.code === 'ECONNREFUSED'
            ? `nothing listens at ${config.host}:${config.port}: the endpoint exists only while the app runs with OTEL_METRICS_EXPORTER=prometheus (is it running? another OTEL_EXPORTER_PROMETHEUS_PORT?)`
            : `cannot scrape ${url}: ${err.code ?? err.message}`,
      })
    );
    req.end();
  });
}
