// A real Prometheus server for the tests: its own config and data directory in a temp dir,
// listening on 127.0.0.1, scraping one target every second; stopped (SIGTERM, then SIGKILL)
// by the test. CI installs the binary (.ci/run); the tests expect it at /usr/bin/prometheus.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode, type RunningNode } from './run-node.ts';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

/** One series of an instant query. */
export interface Series {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/** A running Prometheus. */
export interface PrometheusServer {
  readonly run: RunningNode;
  /** Instant query through the HTTP API. */
  query(promql: string): Promise<Series[]>;
  /**
   * Polls `query` until `accept` holds, or throws with the last result after `timeoutMs`
   * (default 30 s: under a full suite on 2 cores the first scrape once came after more than 15).
   */
  waitFor(
    promql: string,
    accept: (series: Series[]) => boolean,
    timeoutMs?: number
  ): Promise<Series[]>;
  /** Scrape health of the target (`up` and the last error) as Prometheus sees it. */
  targets(): Promise<unknown>;
  stop(): Promise<void>;
}

/** GET http://127.0.0.1:port/path, body as text. */
export function get(
  port: number,
  path: string,
  headers: Record<string, string> = {}
): Promise<{
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent: false, timeout: 5000, headers },
      res => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers })
        );
      }
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** Starts Prometheus scraping `target` (host:port) every second; resolves once it is ready. */
export async function startPrometheusServer(
  target: string
): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'forksafe-prom-'));
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: forksafe',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n')
  );
  const run = startNode(`--config.file=${config}`, {
    command: PROMETHEUS_BIN,
    args: [
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    timeoutMs: 120000,
  });
  const deadline = Date.now() + 20000;
  for (;;) {
    const ready = await get(port, '/-/ready').catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline)
      throw new Error(`Prometheus not ready in 20 s\n${run.stderr}`);
    await new Promise(r => setTimeout(r, 100));
  }
  const query = async (promql: string): Promise<Series[]> => {
    const res = await get(
      port,
      `/api/v1/query?query=${encodeURIComponent(promql)}`
    );
    const parsed = JSON.parse(res.body) as {
      status: string;
      data?: {
        result: { metric: Record<string, string>; value: [number, string] }[];
      };
      error?: string;
    };
    if (parsed.status !== 'success')
      throw new Error(`query ${promql}: ${parsed.error ?? res.body}`);
    return (parsed.data?.result ?? []).map(r => ({
      metric: r.metric,
      value: Number(r.value[1]),
    }));
  };
  const targets = async (): Promise<unknown> => {
    const res = await get(port, '/api/v1/targets');
    const parsed = JSON.parse(res.body) as {
      data: { activeTargets: { health: string; lastError: string }[] };
    };
    return parsed.data.activeTargets.map(t => ({
      health: t.health,
      lastError: t.lastError,
    }));
  };
  return {
    run,
    query,
    targets,
    async waitFor(promql, accept, timeoutMs = 30000) {
      const until = Date.now() + timeoutMs;
      let last: Series[] = [];
      for (;;) {
        last = await query(promql);
        if (accept(last)) return last;
        if (Date.now() > until)
          throw new Error(
            `${promql}: not as expected in ${timeoutMs} ms; last: ${JSON.stringify(last)}; targets: ${JSON.stringify(await targets())}`
          );
        await new Promise(r => setTimeout(r, 250));
      }
    },
    async stop() {
      run.child.kill('SIGTERM');
      const timer = setTimeout(() => run.kill(), 5000);
      await run.exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
