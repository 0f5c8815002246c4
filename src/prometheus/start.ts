// Where the Prometheus endpoint work starts: src/preload/load.ts requires this file (bundled with the
// rest of src/prometheus/ into dist/src/prometheus.bundle.cjs) only when OTEL_METRICS_EXPORTER
// has prometheus: in an exporting process after its SDK started, in a primary at its first fork.
import type { PrometheusConfig } from '../config/types.ts';
import { startPeerEndpoint, type PeerEndpoint } from './peer-endpoint.ts';
import type { PrometheusSource } from '../sdk/prometheus-reader.ts';
import { answerCollectRequests } from './worker-answer.ts';

import {
  startPrimaryEndpoint as startPrimary,
  type PrimaryEndpoint,
} from './primary-endpoint.ts';

/** How this process takes part in the endpoint. */
export type PrometheusPart =
  /** A worker of a primary that runs our preload: the primary serves, this worker answers. */
  | 'answer-primary'
  /** A pm2 cluster instance (no primary of ours): hold the endpoint, or join its holder. */
  | 'share'
  /** A standalone app: a plain endpoint of its own. */
  | 'alone';

// The endpoint this process holds as a standalone app (or pm2 instance), if any.
let held: PeerEndpoint | undefined;

/** Starts this process's part of the scrape endpoint. Never throws. */
export function startPrometheusPart(
  part: PrometheusPart,
  config: PrometheusConfig,
  source: PrometheusSource
): void {
  if (part === 'answer-primary') answerCollectRequests(source);
  else held = startPeerEndpoint({ config, source, share: part === 'share' });
}

/**
 * Starts a primary's endpoint (src/prometheus/primary-endpoint.ts). A process that forks late
 * held the endpoint as a standalone app until now: that one closes first, then the primary
 * listens on the same port. Never throws.
 */
export function startPrimaryEndpoint(
  config: PrometheusConfig
): PrimaryEndpoint {
  const released = held?.stop();
  held = undefined;
  return startPrimary(config, released);
}
