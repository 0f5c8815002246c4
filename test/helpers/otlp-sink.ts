// Test-only OTLP receiver: the receiver core of otel-launch --local (src/otlp/receiver.ts) on
// 127.0.0.1, decoding trace/metric/log exports into flat records, or, in black-hole mode,
// accepting TCP connections and never answering. Loaded by the tests that export.
import { createServer as createNetServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { after, before } from 'node:test';
import {
  startOtlpReceiver,
  type OtlpReceiver,
} from '../../src/otlp/receiver.ts';
import {
  ingest,
  summarize,
  type OtlpRequestCounts,
  type ReceivedLog,
  type ReceivedMetric,
  type ReceivedSpan,
  type Store,
} from './otlp-records.ts';

export type {
  OtlpRequestCounts,
  OtlpSignal,
  OtlpTransport,
  ReceivedLog,
  ReceivedMetric,
  ReceivedMetricType,
  ReceivedPoint,
  ReceivedSpan,
} from './otlp-records.ts';

/** Options for {@link startOtlpSink}. */
export interface OtlpSinkOptions {
  /** Accept TCP connections on both ports but never answer anything. */
  blackHole?: boolean;
}

/** Options for {@link OtlpSink.waitFor}. */
export interface WaitForOptions {
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Description used in the timeout error message. */
  what?: string;
}

/** A running sink; see {@link startOtlpSink}. */
export interface OtlpSink {
  /** e.g. `http://127.0.0.1:PORT` (the gRPC exporters need the `http://`). */
  grpcEndpoint: string;
  /** e.g. `http://127.0.0.1:PORT`; append `/v1/traces` etc. */
  httpEndpoint: string;
  spans(): ReceivedSpan[];
  metrics(): ReceivedMetric[];
  logs(): ReceivedLog[];
  /** Live counters of decoded export requests (reset by clear()). */
  readonly requests: OtlpRequestCounts;
  /** Polls `predicate` every 25 ms; rejects with a summary on timeout. */
  waitFor(predicate: () => boolean, opts?: WaitForOptions): Promise<void>;
  /** Forgets everything received so far and resets the counters. */
  clear(): void;
  /** Closes both listeners and all connections; idempotent, bounded to ~2 s. */
  stop(): Promise<void>;
}

function listen(server: NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('unexpected server address'));
      } else {
        resolve(addr.port);
      }
    });
  });
}

function trackSockets(server: NetServer, sockets: Set<Socket>): void {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
}

function blackHoleServer(sockets: Set<Socket>): NetServer {
  const server = createNetServer();
  trackSockets(server, sockets);
  // Drain whatever the client sends so it never blocks, but never reply.
  server.on('connection', (socket: Socket) => socket.resume());
  return server;
}

function closeNet(server: NetServer, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  return new Promise(resolve => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/**
 * Starts an OTLP sink on 127.0.0.1 (random ports): a gRPC server for the
 * three collector services and an HTTP server for POST /v1/{traces,metrics,logs}
 * (protobuf or JSON, optionally gzip). With `blackHole: true` both ports
 * accept connections and never answer.
 */
export async function startOtlpSink(
  options: OtlpSinkOptions = {}
): Promise<OtlpSink> {
  const store: Store = {
    spans: [],
    metrics: [],
    logs: [],
    requests: { grpc: 0, http: 0, traces: 0, metrics: 0, logs: 0, gzip: 0 },
  };
  const sockets = new Set<Socket>();
  let receiver: OtlpReceiver | undefined;
  let grpcNet: NetServer | undefined;
  let httpNet: NetServer | undefined;
  let grpcPort: number;
  let httpPort: number;

  if (options.blackHole) {
    grpcNet = blackHoleServer(sockets);
    httpNet = blackHoleServer(sockets);
    try {
      grpcPort = await listen(grpcNet);
      httpPort = await listen(httpNet);
    } catch (err) {
      await closeNet(grpcNet, sockets);
      await closeNet(httpNet, sockets);
      throw err;
    }
  } else {
    receiver = await startOtlpReceiver({
      onRequest: (signal, request, via, gzip) => {
        if (gzip) store.requests.gzip += 1;
        ingest(store, signal, request, via);
      },
    });
    grpcPort = receiver.grpcPort;
    httpPort = receiver.httpPort;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const closing = Promise.all([
        receiver?.close(),
        httpNet ? closeNet(httpNet, sockets) : undefined,
        grpcNet ? closeNet(grpcNet, sockets) : undefined,
      ]);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>(resolve => {
        timer = setTimeout(resolve, 1900);
        timer.unref();
      });
      await Promise.race([closing, deadline]);
      clearTimeout(timer);
    })();
    return stopping;
  };

  return {
    grpcEndpoint: `http://127.0.0.1:${grpcPort}`,
    httpEndpoint: `http://127.0.0.1:${httpPort}`,
    spans: () => [...store.spans],
    metrics: () => [...store.metrics],
    logs: () => [...store.logs],
    requests: store.requests,
    waitFor: (predicate, opts = {}) => {
      const timeoutMs = opts.timeoutMs ?? 5000;
      const what = opts.what ?? 'condition';
      const started = Date.now();
      return new Promise<void>((resolve, reject) => {
        const poll = (): void => {
          let ok: boolean;
          try {
            ok = predicate();
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          if (ok) {
            resolve();
          } else if (Date.now() - started >= timeoutMs) {
            reject(
              new Error(
                `timed out after ${timeoutMs} ms waiting for ${what}; ` +
                  summarize(store)
              )
            );
          } else {
            setTimeout(poll, 25);
          }
        };
        poll();
      });
    },
    clear: () => {
      store.spans.length = 0;
      store.metrics.length = 0;
      store.logs.length = 0;
      for (const k of Object.keys(store.requests)) {
        store.requests[k as keyof OtlpRequestCounts] = 0;
      }
    },
    stop,
  };
}

/** Groups records by their numeric `process.pid` resource attribute (others are skipped). */
export function byPid<T extends { resource: Record<string, unknown> }>(
  records: T[]
): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of records) {
    const raw = r.resource['process.pid'];
    const pid = typeof raw === 'string' ? Number(raw) : raw;
    if (typeof pid !== 'number' || !Number.isFinite(pid)) continue;
    const list = out.get(pid);
    if (list) list.push(r);
    else out.set(pid, [r]);
  }
  return out;
}

/** The set of distinct values of resource attribute `key` (records lacking it are skipped). */
export function resourceValues(
  records: Array<{ resource: Record<string, unknown> }>,
  key: string
): Set<unknown> {
  const out = new Set<unknown>();
  for (const r of records) {
    if (key in r.resource) out.add(r.resource[key]);
  }
  return out;
}

/**
 * Starts one sink for the calling test file (in `before`) and stops it (in `after`).
 * Returns an accessor, valid inside tests and hooks.
 */
export function useOtlpSink(options?: OtlpSinkOptions): () => OtlpSink {
  let sink: OtlpSink | undefined;
  before(async () => {
    sink = await startOtlpSink(options);
  });
  after(async () => {
    await sink?.stop();
  });
  return () => {
    if (!sink)
      throw new Error('useOtlpSink(): the sink is used before `before` ran');
    return sink;
  };
}
