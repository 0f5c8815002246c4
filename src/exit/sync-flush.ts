// The synchronous flush: what the SDK still holds when the process ends in a way that cannot
// await (process.exit(), an uncaught exception, an unhandled rejection, the exit(0) a cluster
// worker makes when its primary dies). It gathers the spans and log records the batch
// processors have not exported yet, the batches whose export is still in flight, and one
// collection of every metric reader; serialises them as OTLP; and hands them to a thread
// (sender-thread.ts) while the main thread blocks in Atomics.wait, bounded by a timeout.
//
// Dev note: spans and log records are tracked in a ledger of our own (what the batch processor
// was given minus what its exporter reported on), so no private field of the processors is
// read. The metric collector's storages are private fields of the pinned sdk-metrics (2.12);
// they are read defensively: if one is missing, metrics are skipped and the debug log says
// so; the exit-path tests fail if that ever happens.
import {
  MessageChannel,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type {
  MetricData,
  ResourceMetrics,
  ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { OtlpSignalConfig, Signal } from '../config/types.ts';
import { log } from '../diag.ts';
import type { Ledger } from './ledger.ts';
import {
  FLAG,
  type ExitRequest,
  type ExitSenderData,
} from './sender-protocol.ts';
import { OTLP_GRPC_PATHS, otlpInsecure } from '../otlp/endpoint.ts';
import { readTlsFiles } from '../otlp/tls.ts';

/** A ledger and where its items go. */
export interface LedgerSource<T> {
  readonly ledger: Ledger<T>;
  readonly otlp: OtlpSignalConfig;
}

/** A metric reader whose storages the flush collects. */
export interface MetricSource {
  readonly reader: object;
  readonly otlp: OtlpSignalConfig;
}

export interface SyncFlushSources {
  readonly spans: readonly LedgerSource<ReadableSpan>[];
  readonly logs: readonly LedgerSource<ReadableLogRecord>[];
  readonly metrics: readonly MetricSource[];
}

/** What one synchronous flush did. */
export interface SyncFlushResult {
  readonly spans: number;
  readonly metricPoints: number;
  readonly logRecords: number;
  /** Requests confirmed by the receiver, failed, and not answered before the deadline. */
  readonly ok: number;
  readonly failed: number;
  readonly unanswered: number;
  readonly errors: readonly string[];
  readonly millis: number;
}

interface CollectorInternals {
  _sharedState?: {
    resource: ResourceMetrics['resource'];
    meterSharedStates: Map<
      string,
      {
        _instrumentationScope: ScopeMetrics['scope'];
        metricStorageRegistry: {
          getStorages(collector: unknown): {
            collect(collector: unknown, time: [number, number]): unknown;
          }[];
        };
      }
    >;
  };
}

/**
 * One collection of a reader's synchronous storages, without awaiting observable callbacks
 * (an observable's last observed value is reported; no callback runs at exit).
 */
function collectMetricsSync(reader: object): ResourceMetrics | undefined {
  const collector = (reader as { _sdkMetricProducer?: CollectorInternals })
    ._sdkMetricProducer;
  const shared = collector?._sharedState;
  if (shared?.meterSharedStates === undefined) {
    log.debug('sync flush: the metric reader has no collector; skipped');
    return undefined;
  }
  const now = Date.now();
  const time: [number, number] = [
    Math.floor(now / 1000),
    (now % 1000) * 1_000_000,
  ];
  const scopeMetrics: ScopeMetrics[] = [];
  for (const meter of shared.meterSharedStates.values()) {
    const metrics: MetricData[] = [];
    for (const storage of meter.metricStorageRegistry.getStorages(collector)) {
      const data = storage.collect(collector, time) as MetricData | undefined;
      if (data !== undefined && data !== null && data.dataPoints.length > 0)
        metrics.push(data);
    }
    if (metrics.length > 0)
      scopeMetrics.push({ scope: meter._instrumentationScope, metrics });
  }
  return { resource: shared.resource, scopeMetrics };
}

function lowerKeys(
  headers: Readonly<Record<string, string>>
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

function toRequest(
  signal: Signal,
  otlp: OtlpSignalConfig,
  body: Uint8Array | undefined
): ExitRequest | undefined {
  if (body === undefined || body.byteLength === 0) return undefined;
  const grpc = otlp.protocol === 'grpc';
  return {
    signal,
    transport: grpc ? 'grpc' : 'http',
    url: otlp.url,
    grpcPath: grpc ? OTLP_GRPC_PATHS[signal] : undefined,
    contentType:
      otlp.protocol === 'http/json'
        ? 'application/json'
        : 'application/x-protobuf',
    headers: grpc ? lowerKeys(otlp.headers) : { ...otlp.headers },
    body,
    insecure: otlpInsecure(otlp),
    ...readTlsFiles(otlp),
  };
}

// Dev note: this module runs from src/exit/ (its own build) and from the SDK bundle in
// src/sdk/ (where import.meta.url is the bundle's URL): both folders sit side by side, so one
// relative URL names the sender thread's file from either.
const SENDER_URL = new URL('../exit/sender-thread.js', import.meta.url);

/**
 * Exports synchronously whatever the sources still hold. Blocks the calling thread for at
 * most `timeoutMillis` (plus the thread's start). Never throws.
 */
export function flushSync(
  sources: SyncFlushSources,
  timeoutMillis: number
): SyncFlushResult {
  const started = performance.now();
  const requests: ExitRequest[] = [];
  let spans = 0;
  let metricPoints = 0;
  let logRecords = 0;
  const errors: string[] = [];
  try {
    for (const source of sources.spans) {
      const pending = source.ledger.pending();
      if (pending.length === 0) continue;
      spans += pending.length;
      const json = source.otlp.protocol === 'http/json';
      const body = (
        json ? JsonTraceSerializer : ProtobufTraceSerializer
      ).serializeRequest(pending);
      const r = toRequest('traces', source.otlp, body);
      if (r) requests.push(r);
    }
    for (const source of sources.logs) {
      const pending = source.ledger.pending();
      if (pending.length === 0) continue;
      logRecords += pending.length;
      const json = source.otlp.protocol === 'http/json';
      const body = (
        json ? JsonLogsSerializer : ProtobufLogsSerializer
      ).serializeRequest(pending);
      const r = toRequest('logs', source.otlp, body);
      if (r) requests.push(r);
    }
    for (const source of sources.metrics) {
      const collected = collectMetricsSync(source.reader);
      if (collected === undefined || collected.scopeMetrics.length === 0)
        continue;
      for (const scope of collected.scopeMetrics)
        for (const metric of scope.metrics)
          metricPoints += metric.dataPoints.length;
      const json = source.otlp.protocol === 'http/json';
      const body = (
        json ? JsonMetricsSerializer : ProtobufMetricsSerializer
      ).serializeRequest(collected);
      const r = toRequest('metrics', source.otlp, body);
      if (r) requests.push(r);
    }
  } catch (err) {
    errors.push(`cannot serialise: ${String(err)}`);
  }
  if (requests.length === 0) {
    return {
      spans,
      metricPoints,
      logRecords,
      ok: 0,
      failed: 0,
      unanswered: 0,
      errors,
      millis: performance.now() - started,
    };
  }

  const flag = new SharedArrayBuffer(4 * 3);
  const view = new Int32Array(flag);
  const { port1, port2 } = new MessageChannel();
  let worker: Worker | undefined;
  try {
    const data: ExitSenderData = {
      otelForksafeExitSender: true,
      flag,
      requests,
      timeoutMillis,
      port: port2,
    };
    // execArgv: [] keeps the preload (and any loader) out of the sender thread.
    worker = new Worker(SENDER_URL, {
      workerData: data,
      transferList: [port2],
      execArgv: [],
      stdout: true,
      stderr: true,
    });
    const left = Math.max(1, timeoutMillis - (performance.now() - started));
    Atomics.wait(view, FLAG.done, 0, left);
  } catch (err) {
    errors.push(`cannot start the exit sender: ${String(err)}`);
  }
  for (;;) {
    const message = receiveMessageOnPort(port1) as
      { message: { signal: string; error: string } } | undefined;
    if (message === undefined) break;
    errors.push(`${message.message.signal}: ${message.message.error}`);
  }
  port1.close();
  void worker?.terminate();
  const ok = Atomics.load(view, FLAG.ok);
  const failed = Atomics.load(view, FLAG.failed);
  return {
    spans,
    metricPoints,
    logRecords,
    ok,
    failed,
    unanswered: requests.length - ok - failed,
    errors,
    millis: performance.now() - started,
  };
}
