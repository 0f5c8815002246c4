// startSdk(): builds the exporters, processors, sampler, propagators and resource from a
// ForksafeConfig and starts @opentelemetry/sdk-node with them. The only file that imports the
// SDK packages; bootstrap loads it synchronously, and only in processes that export.
import { readFileSync } from 'node:fs';
import type * as GrpcModule from '@grpc/grpc-js';
import type * as B3Module from '@opentelemetry/propagator-b3';
import type * as JaegerModule from '@opentelemetry/propagator-jaeger';
import { createRequire } from 'node:module';
import {
  diag,
  metrics,
  trace,
  type TextMapPropagator,
} from '@opentelemetry/api';
import {
  CompositePropagator,
  setGlobalErrorHandler,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import type { Instrumentation } from '@opentelemetry/instrumentation';
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
  type LogRecordExporter,
  type LogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import {
  ConsoleMetricExporter,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type PushMetricExporter,
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
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ForksafeConfig, OtlpSignalConfig, Signal } from './config.ts';
import type {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from './deferred-providers.ts';
import { log } from './diag.ts';
import { extractEnvContext, ProcessRootContextManager } from './env-context.ts';
import type { ProcessIdentity } from './identity.ts';

const require = createRequire(import.meta.url);

/** A started SDK. */
export interface SdkHandle {
  /** Exports everything buffered so far. Never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops every provider. Never rejects; idempotent. */
  shutdown(): Promise<void>;
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

type ExporterModule = Record<string, new (config: object) => unknown>;

const EXPORTER_PACKAGES: Record<
  OtlpSignalConfig['protocol'],
  Record<Signal, string>
> = {
  grpc: {
    traces: '@opentelemetry/exporter-trace-otlp-grpc',
    metrics: '@opentelemetry/exporter-metrics-otlp-grpc',
    logs: '@opentelemetry/exporter-logs-otlp-grpc',
  },
  'http/protobuf': {
    traces: '@opentelemetry/exporter-trace-otlp-proto',
    metrics: '@opentelemetry/exporter-metrics-otlp-proto',
    logs: '@opentelemetry/exporter-logs-otlp-proto',
  },
  'http/json': {
    traces: '@opentelemetry/exporter-trace-otlp-http',
    metrics: '@opentelemetry/exporter-metrics-otlp-http',
    logs: '@opentelemetry/exporter-logs-otlp-http',
  },
};

const EXPORTER_CLASS: Record<Signal, string> = {
  traces: 'OTLPTraceExporter',
  metrics: 'OTLPMetricExporter',
  logs: 'OTLPLogExporter',
};

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

// Dev note: exporter packages are required on demand, so a process that exports over gRPC
// never loads the HTTP exporters and vice versa.
function createOtlpExporter(signal: Signal, c: OtlpSignalConfig): unknown {
  const mod = require(EXPORTER_PACKAGES[c.protocol][signal]) as ExporterModule;
  const Exporter = mod[EXPORTER_CLASS[signal]];
  if (!Exporter)
    throw new Error(
      `${EXPORTER_PACKAGES[c.protocol][signal]} has no ${EXPORTER_CLASS[signal]}`
    );
  const ca = readFileOrWarn(c.certificateFile, 'OTLP certificate');
  const key = readFileOrWarn(c.clientKeyFile, 'OTLP client key');
  const cert = readFileOrWarn(
    c.clientCertificateFile,
    'OTLP client certificate'
  );
  const common = {
    url: c.url,
    timeoutMillis: c.timeoutMillis,
    compression: c.compression,
  };
  if (c.protocol === 'grpc') {
    const grpc = require('@grpc/grpc-js') as typeof GrpcModule;
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(c.headers)) metadata.set(k, v);
    // Ref: exporter spec "insecure": only for gRPC; otherwise the URL scheme decides.
    const insecure = c.insecure ?? c.url.startsWith('http://');
    const credentials = insecure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
    return new Exporter({ ...common, metadata, credentials });
  }
  const agent =
    ca || key || cert ? { httpAgentOptions: { ca, key, cert } } : {};
  return new Exporter({ ...common, headers: { ...c.headers }, ...agent });
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
      case 'b3':
      case 'b3multi': {
        const b3 = require('@opentelemetry/propagator-b3') as typeof B3Module;
        return new b3.B3Propagator({
          injectEncoding:
            name === 'b3'
              ? b3.B3InjectEncoding.SINGLE_HEADER
              : b3.B3InjectEncoding.MULTI_HEADER,
        });
      }
      default: {
        const jaeger =
          require('@opentelemetry/propagator-jaeger') as typeof JaegerModule;
        return new jaeger.JaegerPropagator();
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
} {
  const spanProcessors: SpanProcessor[] = [];
  const metricReaders: IMetricReader[] = [];
  const logRecordProcessors: LogRecordProcessor[] = [];
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
      spanProcessors.push(
        name === 'console'
          ? new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })
          : new BatchSpanProcessor({
              exporter: createOtlpExporter(
                'traces',
                config.otlp.traces
              ) as SpanExporter,
              ...config.bsp,
            })
      );
    });
  }
  for (const name of config.exporters.metrics) {
    attempt('metrics', () => {
      const exporter =
        name === 'console'
          ? new ConsoleMetricExporter()
          : (createOtlpExporter(
              'metrics',
              config.otlp.metrics
            ) as PushMetricExporter);
      const { intervalMillis, timeoutMillis } = config.metricExport;
      metricReaders.push(
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: intervalMillis,
          // The reader rejects a timeout longer than the interval.
          exportTimeoutMillis: Math.min(timeoutMillis, intervalMillis),
        })
      );
    });
  }
  for (const name of config.exporters.logs) {
    attempt('logs', () => {
      logRecordProcessors.push(
        name === 'console'
          ? new SimpleLogRecordProcessor({
              exporter: new ConsoleLogRecordExporter(),
            })
          : new BatchLogRecordProcessor({
              exporter: createOtlpExporter(
                'logs',
                config.otlp.logs
              ) as LogRecordExporter,
              ...config.blrp,
            })
      );
    });
  }
  return { spanProcessors, metricReaders, logRecordProcessors };
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
  const { spanProcessors, metricReaders, logRecordProcessors } =
    buildSignals(config);
  // Dev note: NodeSDK installs a console logger of its own when OTEL_LOG_LEVEL is set (it
  // writes debug lines to stdout, which belongs to the app). Its setLogger call is made a
  // no-op for the constructor, so our one-line stderr logger stays in place.
  const setLogger = diag.setLogger;
  diag.setLogger = () => true;
  const contextManager = new ProcessRootContextManager();
  let sdk: NodeSDK;
  try {
    sdk = new NodeSDK({
      resource: buildResource(config, options.identity),
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
  trace.disable();
  metrics.disable();
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
  return {
    forceFlush: async () => {
      await Promise.allSettled([
        ...spanProcessors.map(p => p.forceFlush()),
        ...metricReaders.map(r => r.forceFlush()),
        ...logRecordProcessors.map(p => p.forceFlush()),
      ]);
    },
    shutdown: () => {
      shutdownPromise ??= sdk.shutdown().then(
        () => undefined,
        (err: unknown) => log.error('SDK shutdown failed', err)
      );
      return shutdownPromise;
    },
  };
}
