// startSdk(): builds the exporters, processors, sampler, propagators and resource from a
// ForksafeConfig and starts @opentelemetry/sdk-node with them. The only file that imports the
// SDK packages; bootstrap loads it synchronously, and only in processes that export.
import { readFileSync } from 'node:fs';
import type * as B3Module from '@opentelemetry/propagator-b3';
import { createRequire } from 'node:module';
import {
  context,
  diag,
  metrics,
  propagation,
  trace,
  type TextMapPropagator,
} from '@opentelemetry/api';
import {
  CompositePropagator,
  ExportResultCode,
  setGlobalErrorHandler,
  type ExportResult,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { OTLPMetricExporterBase } from '@opentelemetry/exporter-metrics-otlp-http';
import {
  createOtlpNetworkExportDelegate,
  OTLPExporterBase,
  type ExporterMetrics,
} from '@opentelemetry/otlp-exporter-base';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
  type ISerializer,
} from '@opentelemetry/otlp-transformer';
import {
  defaultResource,
  detectResources,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  type Resource,
  type ResourceDetector,
} from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  ConsoleLogRecordExporter,
  SimpleLogRecordProcessor,
  type LogRecordProcessor,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  ConsoleMetricExporter,
  PeriodicExportingMetricReader,
  type InstrumentType,
  type IMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type {
  ForksafeConfig,
  OtlpSignalConfig,
  Signal,
} from '../config/types.ts';
import type {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from '../instrumentation/early-providers.ts';
import { DetachedExporter, type DetachedState } from './detached-exporter.ts';
import { describeError, log } from '../diag.ts';
import {
  extractEnvContext,
  ProcessRootContextManager,
} from './env-context-manager.ts';
import type { ProcessIdentity } from '../identity/process-identity.ts';
import { VERSION } from '../version.ts';
import { OTLP_GRPC_PATHS, otlpInsecure } from '../otlp/endpoint.ts';
import { abortAllExports, createOtlpTransport } from '../otlp/send.ts';
import {
  PrometheusPullReader,
  type PrometheusSource,
} from '../prometheus/pull-reader.ts';
import {
  flushSync,
  Ledger,
  LedgerExporter,
  LedgerLogRecordProcessor,
  LedgerSpanProcessor,
  type SyncFlushResult,
  type SyncFlushSources,
} from '../exit/sync-flush.ts';

// Dev note: scripts/bundle.mjs removes this line when it bundles this file into
// dist/src/sdk.bundle.cjs, so that there the literal require() calls below name modules inside
// the bundle (each evaluated on first call); in the plain ES build they load from node_modules.
const require = createRequire(import.meta.url);

/** A started SDK. */
export interface SdkHandle {
  /** Exports everything buffered so far. Never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops every provider. Never rejects; idempotent. */
  shutdown(): Promise<void>;
  /**
   * Exports what is still pending without awaiting (for exits that cannot await); blocks for
   * at most `timeoutMillis`. A no-op once shutdown() has completed.
   */
  flushSync(
    timeoutMillis: number,
    options?: { metrics?: boolean }
  ): SyncFlushResult | undefined;
  /**
   * Telemetry not delivered so far: still pending, and dropped or failed since the start.
   */
  undelivered(): Undelivered;
  /** Cancels every export in flight and every later one (the process is ending). */
  abort(reason: string): void;
  /** Set when OTEL_METRICS_EXPORTER has prometheus: this process's metrics, on demand. */
  readonly prometheus?: PrometheusSource;
}

/** Counts of telemetry items of each signal. */
export interface TelemetryCounts {
  readonly spans: number;
  readonly metricPoints: number;
  readonly logRecords: number;
}

/** Telemetry not delivered (see SdkHandle.undelivered). */
export interface Undelivered {
  /** Not sent yet: queued, held back or in flight. */
  readonly pending: TelemetryCounts;
  /** Dropped from a full queue, or whose export failed, since the start. */
  readonly lost: TelemetryCounts;
  /** The last export error, short. */
  readonly cause: string | undefined;
}

/** Inputs of startSdk besides the config. */
export interface StartSdkOptions {
  readonly identity: ProcessIdentity;
  readonly instrumentations: readonly Instrumentation[];
  /** Providers handed out before the SDK existed, to be connected to the real ones. */
  readonly deferred?: {
    readonly tracerProvider: DeferredTracerProvider;
    readonly meterProvider: DeferredMeterProvider;
  };
}

function readFileOrWarn(
  file: string | undefined,
  what: string
): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    log.error(
      `cannot read the ${what} file ${JSON.stringify(file)}; exporting without it`,
      err
    );
    return undefined;
  }
}

// Dev note: each OTLP exporter is the SDK's own export delegate (serialisation, concurrency
// limit, partial-success handling) over our transport (otlp-transport.ts), whose sockets and
// timers never hold a finished process open. The exporter packages' transports would (issue
// #12), and loading @grpc/grpc-js is no longer needed to export over gRPC.
function createOtlpExporter(signal: Signal, c: OtlpSignalConfig): unknown {
  const ca = readFileOrWarn(c.certificateFile, 'OTLP certificate');
  const key = readFileOrWarn(c.clientKeyFile, 'OTLP client key');
  const cert = readFileOrWarn(
    c.clientCertificateFile,
    'OTLP client certificate'
  );
  const grpc = c.protocol === 'grpc';
  const json = c.protocol === 'http/json';
  const transport = createOtlpTransport({
    transport: grpc ? 'grpc' : 'http',
    url: c.url,
    grpcPath: OTLP_GRPC_PATHS[signal],
    contentType: json ? 'application/json' : 'application/x-protobuf',
    // gRPC metadata keys are lower-case HTTP/2 header names.
    headers: grpc
      ? Object.fromEntries(
          Object.entries(c.headers).map(([k, v]) => [k.toLowerCase(), v])
        )
      : { ...c.headers },
    compression: c.compression,
    insecure: otlpInsecure(c),
    ca,
    key,
    cert,
    userAgent: `otel-forksafe/${VERSION}`,
  });
  const serializer = {
    traces: json ? JsonTraceSerializer : ProtobufTraceSerializer,
    metrics: json ? JsonMetricsSerializer : ProtobufMetricsSerializer,
    logs: json ? JsonLogsSerializer : ProtobufLogsSerializer,
  }[signal];
  // The SDK's own self-observability (otel.sdk.exporter.*) stays off, as in the exporters
  // when no meter provider is given to them.
  const exporterMetrics = {
    startExport: () => () => undefined,
  } as unknown as ExporterMetrics<unknown>;
  const delegate = createOtlpNetworkExportDelegate(
    // compression is applied by the transport; the delegate reads only the other two.
    {
      timeoutMillis: c.timeoutMillis,
      concurrencyLimit: 30,
      compression: 'none',
    },
    serializer as ISerializer<unknown, unknown>,
    exporterMetrics,
    transport
  );
  return signal === 'metrics'
    ? new OTLPMetricExporterBase(delegate)
    : new OTLPExporterBase(delegate);
}

interface ExporterLike {
  export(items: unknown, done: (result: ExportResult) => void): void;
  forceFlush?(): Promise<void>;
  shutdown(): Promise<void>;
  selectAggregationTemporality?(type: InstrumentType): AggregationTemporality;
}

/**
 * An OTLP exporter that is built on first use (the first export, or the first collection for
 * metrics) rather than at startup. If it cannot be built, that is said once and what it is
 * given is dropped.
 */
// Dev note: building an OTLP exporter reads its certificate files and loads the export
// delegate, and the first export comes seconds after the app started listening. It defines no
// selectAggregation: the OTLP exporters' default (no aggregationPreference, which no variable
// sets) is the metric reader's own default.
class DeferredOtlpExporter implements ExporterLike {
  private real: ExporterLike | null | undefined;
  private readonly signal: Signal;
  private readonly config: OtlpSignalConfig;
  constructor(signal: Signal, config: OtlpSignalConfig) {
    this.signal = signal;
    this.config = config;
  }

  private get(): ExporterLike | null {
    if (this.real === undefined) {
      try {
        this.real = createOtlpExporter(
          this.signal,
          this.config
        ) as ExporterLike;
      } catch (err) {
        this.real = null;
        log.error(
          `cannot create the ${this.signal} exporter; ${this.signal} are not exported`,
          err
        );
      }
    }
    return this.real;
  }

  export(items: unknown, done: (result: ExportResult) => void): void {
    const real = this.get();
    // Already reported in one line; the processors need not repeat it for every batch.
    if (!real) done({ code: ExportResultCode.SUCCESS });
    else real.export(items, done);
  }

  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return (
      this.get()?.selectAggregationTemporality?.(type) ??
      AggregationTemporality.CUMULATIVE
    );
  }

  forceFlush(): Promise<void> {
    return this.real?.forceFlush?.() ?? Promise.resolve();
  }

  shutdown(): Promise<void> {
    // Never built: nothing to close, and nothing is built now.
    if (this.real === undefined) this.real = null;
    return this.real?.shutdown() ?? Promise.resolve();
  }
}

function createSampler(config: ForksafeConfig): Sampler {
  const { name, ratio } = config.sampler;
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({
        root: new TraceIdRatioBasedSampler(ratio),
      });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function createPropagator(config: ForksafeConfig): TextMapPropagator | null {
  if (config.propagators.length === 0) return null;
  const propagators = config.propagators.map((name): TextMapPropagator => {
    switch (name) {
      case 'tracecontext':
        return new W3CTraceContextPropagator();
      case 'baggage':
        return new W3CBaggagePropagator();
      default: {
        const b3 = require('@opentelemetry/propagator-b3') as typeof B3Module;
        return new b3.B3Propagator({
          injectEncoding:
            name === 'b3'
              ? b3.B3InjectEncoding.SINGLE_HEADER
              : b3.B3InjectEncoding.MULTI_HEADER,
        });
      }
    }
  });
  return new CompositePropagator({ propagators });
}

// Resource detectors that live in auto-instrumentations-node's dependencies.
const EXTRA_DETECTORS: Record<string, [string, string]> = {
  container: [
    '@opentelemetry/resource-detector-container',
    'containerDetector',
  ],
  alibaba: [
    '@opentelemetry/resource-detector-alibaba-cloud',
    'alibabaCloudEcsDetector',
  ],
  aws: ['@opentelemetry/resource-detector-aws', 'awsEc2Detector'],
  azure: ['@opentelemetry/resource-detector-azure', 'azureVmDetector'],
  gcp: ['@opentelemetry/resource-detector-gcp', 'gcpDetector'],
};

function loadExtraDetector(name: string): ResourceDetector | undefined {
  const entry = EXTRA_DETECTORS[name];
  if (!entry) return undefined;
  try {
    const fromAuto = createRequire(
      require.resolve('@opentelemetry/auto-instrumentations-node')
    );
    const mod = fromAuto(entry[0]) as Record<
      string,
      ResourceDetector | undefined
    >;
    return mod[entry[1]];
  } catch (err) {
    log.error(
      `resource detector ${JSON.stringify(name)} is not available`,
      err
    );
    return undefined;
  }
}

function buildResource(
  config: ForksafeConfig,
  identity: ProcessIdentity
): Resource {
  const detectors: ResourceDetector[] = [];
  for (const name of config.resourceDetectors) {
    if (name === 'host') detectors.push(hostDetector);
    else if (name === 'os') detectors.push(osDetector);
    else if (name === 'process') detectors.push(processDetector);
    else if (name !== 'env') {
      const detector = loadExtraDetector(name);
      if (detector) detectors.push(detector);
    }
  }
  let resource = defaultResource().merge(detectResources({ detectors }));
  // Dev note: 'env' is applied from our parsed config rather than by envDetector, so the
  // environment is read (and its problems reported) in one place.
  if (config.resourceDetectors.includes('env')) {
    resource = resource.merge(
      resourceFromAttributes(config.resourceAttributes)
    );
  }
  if (config.serviceName !== undefined) {
    resource = resource.merge(
      resourceFromAttributes({ 'service.name': config.serviceName })
    );
  }
  // Identity last: it must win over anything the detectors or the environment said.
  return resource.merge(resourceFromAttributes(identity.attributes));
}

function buildSignals(config: ForksafeConfig): {
  spanProcessors: SpanProcessor[];
  metricReaders: IMetricReader[];
  logRecordProcessors: LogRecordProcessor[];
  syncSources: SyncFlushSources;
  detached: DetachedExporters;
  prometheus: PrometheusSource | undefined;
} {
  const detached: DetachedExporters = { spans: [], metrics: [], logs: [] };
  let prometheus: PrometheusSource | undefined;
  const spanProcessors: SpanProcessor[] = [];
  const metricReaders: IMetricReader[] = [];
  const logRecordProcessors: LogRecordProcessor[] = [];
  const syncSources = {
    spans: [] as SyncFlushSources['spans'][number][],
    logs: [] as SyncFlushSources['logs'][number][],
    metrics: [] as SyncFlushSources['metrics'][number][],
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
        spanProcessors.push(
          new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })
        );
        return;
      }
      // The batch processor's queue, and as much again in the detached exporter's.
      const ledger = new Ledger<ReadableSpan>(
        2 * config.bsp.maxQueueSize + config.bsp.maxExportBatchSize
      );
      const exporter = new DetachedExporter<ReadableSpan[]>(
        new LedgerExporter(
          new DeferredOtlpExporter('traces', config.otlp.traces),
          ledger
        ),
        {
          count: batch => batch.length,
          maxItems: config.bsp.maxQueueSize,
          onDrop: batch => ledger.settle(batch),
        }
      );
      detached.spans.push(exporter);
      spanProcessors.push(
        new LedgerSpanProcessor(
          new BatchSpanProcessor({ exporter, ...config.bsp }),
          ledger
        )
      );
      syncSources.spans.push({ ledger, otlp: config.otlp.traces });
    });
  }
  for (const name of config.exporters.metrics) {
    attempt('metrics', () => {
      // Pull: no exporter, no interval; src/prometheus/ serves it (issue #16).
      if (name === 'prometheus') {
        const reader = new PrometheusPullReader();
        metricReaders.push(reader);
        prometheus = reader;
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
        detached.metrics.push(queue);
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
      metricReaders.push(reader);
      if (name !== 'console')
        syncSources.metrics.push({ reader, otlp: config.otlp.metrics });
    });
  }
  for (const name of config.exporters.logs) {
    attempt('logs', () => {
      if (name === 'console') {
        logRecordProcessors.push(
          new SimpleLogRecordProcessor({
            exporter: new ConsoleLogRecordExporter(),
          })
        );
        return;
      }
      const ledger = new Ledger<ReadableLogRecord>(
        2 * config.blrp.maxQueueSize + config.blrp.maxExportBatchSize
      );
      const exporter = new DetachedExporter<ReadableLogRecord[]>(
        new LedgerExporter(
          new DeferredOtlpExporter('logs', config.otlp.logs),
          ledger
        ),
        {
          count: batch => batch.length,
          maxItems: config.blrp.maxQueueSize,
          onDrop: batch => ledger.settle(batch),
        }
      );
      detached.logs.push(exporter);
      logRecordProcessors.push(
        new LedgerLogRecordProcessor(
          new BatchLogRecordProcessor({ exporter, ...config.blrp }),
          ledger
        )
      );
      syncSources.logs.push({ ledger, otlp: config.otlp.logs });
    });
  }
  return {
    spanProcessors,
    metricReaders,
    logRecordProcessors,
    syncSources,
    detached,
    prometheus,
  };
}

/** The background export queues of each signal (detached-exporter.ts). */
interface DetachedExporters {
  spans: DetachedExporter<ReadableSpan[]>[];
  metrics: DetachedExporter<ResourceMetrics>[];
  logs: DetachedExporter<ReadableLogRecord[]>[];
}

function countMetricPoints(batch: ResourceMetrics): number {
  let n = 0;
  for (const scope of batch.scopeMetrics)
    for (const metric of scope.metrics) n += metric.dataPoints.length;
  return n;
}

/**
 * Starts the SDK for this process. May throw if the SDK itself fails to start; bootstrap
 * catches that at the preload boundary.
 */
export function startSdk(
  config: ForksafeConfig,
  options: StartSdkOptions
): SdkHandle {
  setGlobalErrorHandler(err => log.exportFailed(err));
  const {
    spanProcessors,
    metricReaders,
    logRecordProcessors,
    syncSources,
    detached,
    prometheus,
  } = buildSignals(config);
  // Dev note: NodeSDK installs a console logger of its own when OTEL_LOG_LEVEL is set (it
  // writes debug lines to stdout, which belongs to the app). Its setLogger call is made a
  // no-op for the constructor, so our one-line stderr logger stays in place.
  const setLogger = diag.setLogger;
  diag.setLogger = () => true;
  const resource = buildResource(config, options.identity);
  // Dev note: a resource with async attributes (host.id) stays "pending" until someone awaits
  // it, and the batch processors hold each batch back until then: such a batch is in neither
  // the queue nor the exporter, out of the exit-time flush's reach. Settle it now (a few ms).
  void resource.waitForAsyncAttributes?.().catch(() => undefined);
  const contextManager = new ProcessRootContextManager();
  let sdk: NodeSDK;
  try {
    sdk = new NodeSDK({
      resource,
      autoDetectResources: false,
      spanProcessors,
      metricReaders,
      logRecordProcessors,
      sampler: createSampler(config),
      textMapPropagator: createPropagator(config),
      contextManager,
      instrumentations: [...options.instrumentations],
    });
  } finally {
    diag.setLogger = setLogger;
  }
  // Our deferred providers hold the global slots; NodeSDK registers its own in their place.
  // Dev note: so do an SDK the app started before ours (a tracing.js in a standalone app,
  // which runs before the role is decided): ours keeps running, the app's is set aside
  // (README, "An app with its own SDK"), and every request is exported once.
  trace.disable();
  metrics.disable();
  context.disable();
  propagation.disable();
  sdk.start();
  // A parent process (or CI runner) that started this one inside a span passed it in
  // TRACEPARENT/TRACESTATE: spans started with no active context continue that trace.
  const envContext = extractEnvContext();
  if (envContext) contextManager.setRoot(envContext);
  const { deferred } = options;
  if (deferred) {
    // Dev note: the deferred providers stay the global ones, delegating to the SDK's, so a
    // process that later forks can silence every tracer and meter the app holds at once.
    const realTracerProvider = trace.getTracerProvider();
    const realMeterProvider =
      metricReaders.length > 0 ? metrics.getMeterProvider() : undefined;
    trace.disable();
    metrics.disable();
    trace.setGlobalTracerProvider(deferred.tracerProvider);
    metrics.setGlobalMeterProvider(deferred.meterProvider);
    deferred.tracerProvider.attach(realTracerProvider);
    deferred.meterProvider.attach(realMeterProvider);
  }
  let shutdownPromise: Promise<void> | undefined;
  let shutdownDone = false;
  return {
    ...(prometheus ? { prometheus } : {}),
    forceFlush: async () => {
      await Promise.allSettled([
        ...spanProcessors.map(p => p.forceFlush()),
        ...metricReaders.map(r => r.forceFlush()),
        ...logRecordProcessors.map(p => p.forceFlush()),
      ]);
      // The processors hand their batches over at once; delivery is the queues' part.
      await Promise.allSettled(
        [...detached.spans, ...detached.metrics, ...detached.logs].map(q =>
          q.forceFlush()
        )
      );
    },
    undelivered: () => {
      const sum = <Q>(queues: readonly Q[], f: (q: Q) => number): number =>
        queues.reduce((n, q) => n + f(q), 0);
      const lost = (q: { state(): DetachedState }): number => q.state().lost;
      const lastError = [
        ...detached.spans,
        ...detached.metrics,
        ...detached.logs,
      ]
        .map(q => q.state().lastError)
        .find(e => e !== undefined);
      return {
        pending: {
          spans: sum(syncSources.spans, s => s.ledger.size),
          metricPoints: sum(detached.metrics, q => q.state().pending),
          logRecords: sum(syncSources.logs, s => s.ledger.size),
        },
        lost: {
          spans: sum(detached.spans, lost),
          metricPoints: sum(detached.metrics, lost),
          logRecords: sum(detached.logs, lost),
        },
        cause: lastError === undefined ? undefined : describeError(lastError),
      };
    },
    abort: reason => abortAllExports(reason),
    shutdown: () => {
      shutdownPromise ??= sdk.shutdown().then(
        () => {
          shutdownDone = true;
        },
        // Export failures at shutdown are export failures: one deduplicated line.
        (err: unknown) => log.exportFailed(err)
      );
      return shutdownPromise;
    },
    flushSync: (timeoutMillis, flushOptions) =>
      shutdownDone
        ? undefined
        : flushSync(
            flushOptions?.metrics === false
              ? { ...syncSources, metrics: [] }
              : syncSources,
            timeoutMillis
          ),
  };
}
