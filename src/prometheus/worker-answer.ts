// A cluster worker's side of the primary's scrape endpoint: answers the primary's collection
// requests with this worker's exposition. Started by src/prometheus/start.ts in workers whose
// primary runs our preload.
import { log } from '../diag.ts';
import {
  isPrometheusMessage,
  PROMETHEUS_CMD,
  type PrometheusMessage,
} from './ipc-protocol.ts';
import type { PrometheusSource } from '../sdk/prometheus-reader.ts';

function send(message: PrometheusMessage): void {
  if (!process.connected || !process.send) return;
  try {
    // The callback swallows a channel closed meanwhile (the worker is going).
    process.send(message, undefined, {}, () => undefined);
  } catch {
    // disconnected between the check and the send
  }
}

/**
 * Listens for the primary's requests on the cluster channel and says hello, so the primary
 * asks this worker from now on. Adds no 'message' listener (see ipc-protocol.ts), so the
 * channel's reference count and the app's listeners are as they were. Never throws.
 */
export function answerCollectRequests(source: PrometheusSource): void {
  process.on('internalMessage', (message: unknown) => {
    if (!isPrometheusMessage(message) || message.op !== 'collect') return;
    const { id } = message;
    void source
      .collectText()
      .then(text => send({ cmd: PROMETHEUS_CMD, op: 'metrics', id, text }));
  });
  send({ cmd: PROMETHEUS_CMD, op: 'hello' });
  log.debug('Prometheus: answering the primary’s scrapes');
}
