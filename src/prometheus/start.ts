// Where the Prometheus endpoint work starts: bootstrap.ts requires this file (bundled with the
// rest of src/prometheus/ into dist/src/prometheus.bundle.cjs) only when OTEL_METRICS_EXPORTER
// has prometheus: in an exporting process after its SDK started, in a primary at its first fork.
import type { PrometheusConfig } from '../config.ts';
import { startPeerEndpoint } from './peer-endpoint.ts';
import type { PrometheusSource } from './pull-reader.ts';
import { answerCollectRequests } from './worker-answer.ts';

export { startPrimaryEndpoint } from './primary-endpoint.ts';

/** How this process takes part in the endpoint. */
export type PrometheusPart =
  /** A worker of a primary that runs our preload: the primary serves, this worker answers. */
  | 'answer-primary'
  /** A pm2 cluster instance (no primary of ours): hold the endpoint, or join its holder. */
  | 'share'
  /** A standalone app: a plain endpoint of its own. */
  | 'alone';

/** Starts this process's part of the scrape endpoint. Never throws. */
export function startPrometheusPart(
  part: PrometheusPart,
  config: PrometheusConfig,
  source: PrometheusSource
): void {
  if (part === 'answer-primary') answerCollectRequests(source);
  else startPeerEndpoint({ config, source, share: part === 'share' });
}
