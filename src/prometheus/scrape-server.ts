// The one HTTP scrape endpoint of a cluster (GET /metrics at OTEL_EXPORTER_PROMETHEUS_HOST and
// _PORT). Held by a node:cluster primary, a pm2 instance, or a standalone app; it asks its
// `gather` function for the expositions at each scrape and merges them. node:http only.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { log } from '../diag.ts';
import { mergeExpositions, type GatherStatus } from './exposition.ts';

/** What one scrape gathered. */
export interface Gathered extends GatherStatus {
  readonly texts: readonly string[];
}

/** Options of listenForScrapes. */
export interface ScrapeServerOptions {
  readonly host: string;
  readonly port: number;
  /** Collects every process's exposition; must settle within `boundMillis`. */
  readonly gather: (boundMillis: number) => Promise<Gathered>;
  /** Called once when the port is taken (EADDRINUSE); the server is then closed. */
  readonly onPortTaken: () => void;
  /** Called once listening. */
  readonly onListening?: () => void;
}

/** A started scrape server. */
export interface ScrapeServer {
  readonly server: http.Server;
  /** Stops listening; open scrapes are answered first. */
  close(): Promise<void>;
}

/** How long a process may take to answer a scrape, unless the scraper's timeout is shorter. */
export const DEFAULT_BOUND_MILLIS = 2000;

// Dev note: Prometheus sends its scrape timeout in this header; a process gets at most half of
// it, so the endpoint always answers before the scraper gives up on the whole target.
// Ref: https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config
function boundFor(req: http.IncomingMessage): number {
  const header = Number(req.headers['x-prometheus-scrape-timeout-seconds']);
  return Number.isFinite(header) && header > 0
    ? Math.max(50, Math.min(DEFAULT_BOUND_MILLIS, header * 500))
    : DEFAULT_BOUND_MILLIS;
}

/**
 * Starts the endpoint. Never throws; a taken port calls onPortTaken (once) and a failing
 * scrape answers 500 with one diagnostic.
 */
export function listenForScrapes(options: ScrapeServerOptions): ScrapeServer {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    options.gather(boundFor(req)).then(
      gathered => {
        // Dev note: the exporter's serializer writes the 0.0.4 text format only (no `# EOF`,
        // counters' TYPE lines keep `_total`), so that is what every scraper gets, also one
        // that asks for OpenMetrics first; Prometheus falls back by the content type.
        // Ref: https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/
        res.setHeader(
          'content-type',
          'text/plain; version=0.0.4; charset=utf-8'
        );
        res.end(mergeExpositions(gathered.texts, gathered));
      },
      (err: unknown) => {
        log.error('a Prometheus scrape failed', err);
        res.statusCode = 500;
        res.end();
      }
    );
  });
  // Dev note: scrapes are not the app's requests. The http instrumentation (active when a pm2
  // instance or a standalone app holds the endpoint) wraps http.Server.prototype.emit; this
  // server dispatches with EventEmitter's own, so no span and no http.server.* point per scrape.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- an emit for this instance
  server.emit = EventEmitter.prototype.emit;
  // The endpoint never keeps a process alive.
  server.unref();
  let taken = false;
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE' && !taken) {
      taken = true;
      options.onPortTaken();
      return;
    }
    log.error(
      `the Prometheus endpoint on ${options.host}:${options.port} failed`,
      err
    );
  });
  // Dev note: `exclusive`, because in a cluster worker (pm2 cluster mode) listen() otherwise
  // asks the primary (pm2's daemon) for a shared handle: every instance would "bind" and
  // scrapes would go round-robin to one instance each. Exclusive, the second one gets
  // EADDRINUSE and joins the first (src/prometheus/peer-endpoint.ts).
  // Ref: https://nodejs.org/api/net.html#serverlistenoptions-callback (exclusive)
  server.listen(
    { host: options.host, port: options.port, exclusive: true },
    () => options.onListening?.()
  );
  return {
    server,
    close: () =>
      new Promise(resolve => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
      }),
  };
}
