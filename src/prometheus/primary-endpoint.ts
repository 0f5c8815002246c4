// A cluster primary's scrape endpoint (node:cluster, throng): from the first fork on, the
// primary serves OTEL_EXPORTER_PROMETHEUS_HOST:PORT and gathers every live worker's exposition
// over the cluster IPC channel at each scrape. Loads node:http and this folder, no SDK.
import type { Worker } from 'node:cluster';
import { log } from '../diag.ts';
import type { PrometheusConfig } from '../config/types.ts';
import {
  isPrometheusMessage,
  PROMETHEUS_CMD,
  type CollectMessage,
} from './ipc-protocol.ts';
import { listenForScrapes, type Gathered } from './scrape-server.ts';

/** The primary's endpoint: call `watch` with each forked worker. */
export interface PrimaryEndpoint {
  /** Follows a worker just forked (its hello, its answers, its exit). */
  watch(worker: Worker): void;
}

interface Followed {
  ready: boolean;
  /** Pending answers by request id. */
  readonly pending: Map<number, (text: string | undefined) => void>;
}

/**
 * Starts the endpoint (once per process). A worker is asked only once it said hello (its SDK
 * is up); one that does not answer within the bound is left out of that scrape and counted in
 * otel_forksafe_scrape_processes_left_out; one that exits is forgotten. Never throws.
 */
export function startPrimaryEndpoint(
  config: PrometheusConfig,
  /** Settles once the port is free for us (a late fork's standalone endpoint closed). */
  released?: Promise<void>
): PrimaryEndpoint {
  const followed = new Map<Worker, Followed>();
  let nextId = 1;

  const ask = (worker: Worker, f: Followed, bound: number) =>
    new Promise<string | undefined>(resolve => {
      const id = nextId++;
      const timer = setTimeout(() => {
        f.pending.delete(id);
        resolve(undefined);
      }, bound);
      f.pending.set(id, text => {
        clearTimeout(timer);
        f.pending.delete(id);
        resolve(text);
      });
      const message: CollectMessage = {
        cmd: PROMETHEUS_CMD,
        op: 'collect',
        id,
      };
      try {
        worker.process.send(message, undefined, {}, () => undefined);
      } catch {
        // The worker is going; its exit settles the request.
      }
    });

  const gather = async (bound: number): Promise<Gathered> => {
    const asked = [...followed].filter(
      ([worker, f]) => f.ready && worker.isConnected()
    );
    const answers = await Promise.all(
      asked.map(([worker, f]) => ask(worker, f, bound))
    );
    const texts = answers.filter((t): t is string => t !== undefined);
    // A worker that exited during the scrape is gone, not late.
    const leftOut = asked.filter(
      ([worker], i) => answers[i] === undefined && followed.has(worker)
    ).length;
    return { texts, answered: texts.length, leftOut };
  };

  const listen = (): void => {
    listenForScrapes({
      host: config.host,
      port: config.port,
      gather,
      onListening: () =>
        log.debug(
          `Prometheus endpoint on ${config.host}:${config.port}, serving every worker`
        ),
      onPortTaken: () =>
        log.warn(
          `OTEL_EXPORTER_PROMETHEUS_PORT=${config.port}: ${config.host}:${config.port} is already in use by another program; no Prometheus endpoint (choose a free port)`
        ),
    });
  };
  if (released) void released.then(listen, listen);
  else listen();

  return {
    watch(worker) {
      if (followed.has(worker)) return;
      const f: Followed = { ready: false, pending: new Map() };
      followed.set(worker, f);
      const onMessage = (message: unknown): void => {
        if (!isPrometheusMessage(message)) return;
        if (message.op === 'hello') f.ready = true;
        else if (message.op === 'metrics')
          f.pending.get(message.id)?.(message.text);
      };
      worker.process.on('internalMessage', onMessage);
      worker.once('exit', () => {
        followed.delete(worker);
        worker.process.off('internalMessage', onMessage);
        for (const settle of [...f.pending.values()]) settle(undefined);
      });
    },
  };
}
