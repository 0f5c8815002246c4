// The messages between a cluster primary's scrape endpoint and its workers, over the cluster's
// own IPC channel. Imported by both sides (src/prometheus/primary-endpoint.ts, worker-answer.ts).

// Dev note: Node delivers a message whose `cmd` starts with `NODE_` as 'internalMessage'
// instead of 'message', and cluster only acts on cmd NODE_CLUSTER: so the app's
// process.on('message'), worker.on('message') and cluster.on('message') never see ours.
// Ref: https://github.com/nodejs/node/blob/v22.15.0/lib/internal/child_process.js (isInternal)
// Ref: https://github.com/nodejs/node/blob/v22.15.0/lib/internal/cluster/utils.js (internal)
export const PROMETHEUS_CMD = 'NODE_OTEL_FORKSAFE_PROMETHEUS';

/** Worker -> primary: this worker answers collection requests from now on. */
export interface HelloMessage {
  readonly cmd: typeof PROMETHEUS_CMD;
  readonly op: 'hello';
}
/** Primary -> worker: send your exposition, tagged with `id`. */
export interface CollectMessage {
  readonly cmd: typeof PROMETHEUS_CMD;
  readonly op: 'collect';
  readonly id: number;
}
/** Worker -> primary: the exposition for request `id`. */
export interface MetricsMessage {
  readonly cmd: typeof PROMETHEUS_CMD;
  readonly op: 'metrics';
  readonly id: number;
  readonly text: string;
}

export type PrometheusMessage = HelloMessage | CollectMessage | MetricsMessage;

/** True for one of our messages. */
export function isPrometheusMessage(m: unknown): m is PrometheusMessage {
  return (
    typeof m === 'object' &&
    m !== null &&
    (m as { cmd?: unknown }).cmd === PROMETHEUS_CMD
  );
}
