// Each signal's pipeline, from the exporters OTEL_<SIGNAL>_EXPORTER names: processor or reader
// -> ledger (what the exit path can still send, src/exit/ledger.ts) -> detached queue
// (detached-exporter.ts) -> our OTLP exporter (otlp-exporter.ts). Prometheus is pulled instead.
import {
  BatchLogRecordProcessor,
  ConsoleLogRecordExporter,
  SimpleLogRecordProcessor,
  type LogRecordProcessor,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import {
  ConsoleMetricExporter,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type {
  BatchConfig,
  ForksafeConfig,
  OtlpSignalConfig,
  Signal,
} from '../config/types.ts';
import { log } from '../diag.ts';
import {
  Ledger,
  LedgerExporter,
  LedgerLogRecordProcessor,
  LedgerSpanProcessor,
} from '../exit/ledger.ts';
import type { SyncFlushSources } from '../exit/sync-flush.ts';
import {
  PrometheusPullReader,
  type PrometheusSource,
} from '../sdk/prometheus-reader.ts';
import { DetachedExporter } from './detached-exporter.ts';
import { DeferredOtlpExporter } from './otlp-exporter.ts';

/** The background export queues of each signal (detached-exporter.ts). */
export interface DetachedExporters {
  spans: DetachedExporter<ReadableSpan[]>[];
  metrics: DetachedExporter<ResourceMetrics>[];
  logs: DetachedExporter<ReadableLogRecord[]>[];
}

/** What buildPipelines made, for NodeSDK and for our exit path. */
export interface Pipelines {
  spanProcessors: SpanProcessor[];
  metricReaders: IMetricReader[];
  logRecordProcessors: LogRecordProcessor[];
  syncSources: SyncFlushSources;
  detached: DetachedExporters;
  prometheus: PrometheusSource | undefined;
}

/** A batch pipeline's exporter side: the ledger and the detached queue over OTLP. */
interface BatchOtlp<T> {
  ledger: Ledger<T>;
  exporter: DetachedExporter<T[]>;
}

// Spans and log records take the same path: the batch processor's queue, and as much again
// in the detached exporter's, are tracked in the ledger.
function batchOtlp<T>(
  signal: 'traces' | 'logs',
  otlp: OtlpSignalConfig,
  batch: BatchConfig
): BatchOtlp<T> {
  const ledger = new Ledger<T>(
    2 * batch.maxQueueSize + batch.maxExportBatchSize
  );
  const exporter = new DetachedExporter<T[]>(
    new LedgerExporter(new DeferredOtlpExporter(signal, otlp), ledger),
    {
      count: items => items.length,
      maxItems: batch.maxQueueSize,
      onDrop: items => ledger.settle(items),
    }
  );
  return { ledger, exporter };
}

function countMetricPoints(batch: ResourceMetrics): number {
  let n = 0;
  for (const scope of batch.scopeMetrics)
    for (const metric of scope.metrics) n += metric.dataPoints.length;
  return n;
}

/** Builds every configured pipeline; one that cannot be built is said once and skipped. */
export function buildPipelines(config: ForksafeConfig): Pipelines {
  const p: Pipelines = {
    spanProcessors: [],
    metricReaders: [],
    logRecordProcessors: [],
    syncSources: { spans: [], logs: [], metrics: [] },
    detached: { spans: [], metrics: [], logs: [] },
    prometheus: undefined,
  };
  const sync = p.syncSources as {
    spans: SyncFlushSources['spans'][number][];
    logs: SyncFlushSources['logs'][number][];
    metrics: SyncFlushSources['metrics'][number][];
  };
  const attempt = (signal: Signal, build: () => void): void => {
    try {
      build();
    } catch (err) {
      log.error(
        `cannot create the ${signal} exporter; ${signal} are not exported`,
        err
      );
    }
  };
  for (const name of config.exporters.traces) {
    attempt('traces', () => {
      if (name === 'console') {
        p.spanProcessors.push(
          new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })
        );
        return;
      }
      const { ledger, exporter } = batchOtlp<ReadableSpan>(
        'traces',
        config.otlp.traces,
        config.bsp
      );
      p.detached.spans.push(exporter);
      p.spanProcessors.push(
        new LedgerSpanProcessor(
          new BatchSpanProcessor({ exporter, ...config.bsp }),
          ledger
        )
      );
      sync.spans.push({ ledger, otlp: config.otlp.traces });
    });
  }
  for (const name of config.exporters.metrics) {
    attempt('metrics', () => {
      // Pull: no exporter, no interval; src/prometheus/ serves it (issue #16).
      if (name === 'prometheus') {
        const reader = new PrometheusPullReader();
        p.metricReaders.push(reader);
        p.prometheus = reader;
        return;
      }
      let exporter: PushMetricExporter;
      if (name === 'console') exporter = new ConsoleMetricExporter();
      else {
        const otlp = new DeferredOtlpExporter('metrics', config.otlp.metrics);
        const queue = new DetachedExporter<ResourceMetrics>(
          otlp,
          // A few collections at most: a newer one supersedes cumulative points anyway.
          { count: countMetricPoints, maxItems: 100_000 }
        );
        p.detached.metrics.push(queue);
        exporter = Object.assign(queue, {
          selectAggregationTemporality: (type: InstrumentType) =>
            otlp.selectAggregationTemporality(type),
        });
      }
      const { intervalMillis, timeoutMillis } = config.metricExport;
      const reader = new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: intervalMillis,
        // The reader rejects a timeout longer than the interval.
        exportTimeoutMillis: Math.min(timeoutMillis, intervalMillis),
      });
      p.metricReaders.push(reader);
      if (name !== 'console')
        sync.metrics.push({ reader, otlp: config.otlp.metrics });
    });
  }
  for (const name of config.exporters.logs) {
    attempt('logs', () => {
      if (name === 'console') {
        p.logRecordProcessors.push(
          new SimpleLogRecordProcessor({
            exporter: new ConsoleLogRecordExporter(),
          })
        );
        return;
      }
      const { ledger, exporter } = batchOtlp<ReadableLogRecord>(
        'logs',
        config.otlp.logs,
        config.blrp
      );
      p.detached.logs.push(exporter);
      p.logRecordProcessors.push(
        new LedgerLogRecordProcessor(
          new BatchLogRecordProcessor({ exporter, ...config.blrp }),
          ledger
        )
      );
      sync.logs.push({ ledger, otlp: config.otlp.logs });
    });
  }
  return p;
}
