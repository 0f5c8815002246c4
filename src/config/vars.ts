// Every variable otel-forksafe knows, by catalogue (ours, the SDK's, the platform's), the
// allowed values of each, and the fork patch's internal markers. Data only.
// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
import type { LogLevelName } from '../diag.ts';
import type { OtlpProtocol, SamplerName, Signal } from './types.ts';

/** Names of the internal variables the fork patch passes to workers. */
export const WORKER_MARKER_VARS = {
  slot: 'OTEL_FORKSAFE_WORKER_SLOT',
  primaryPid: 'OTEL_FORKSAFE_PRIMARY_PID',
  instanceBase: 'OTEL_FORKSAFE_INSTANCE_BASE',
  /** Digest of the config problems the primary already reported. */
  reported: 'OTEL_FORKSAFE_REPORTED',
} as const;

/**
 * The signals that end a process by default and that supervisors use to stop or restart it:
 * the exit path flushes on them (src/exit/shutdown.ts), otel-launch relays them to its child.
 */
export const SHUTDOWN_SIGNALS = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGUSR2',
] as const satisfies readonly NodeJS.Signals[];

/** The three telemetry signals, in the order we report them. */
export const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];
export const PROTOCOLS: readonly OtlpProtocol[] = [
  'grpc',
  'http/protobuf',
  'http/json',
];
export const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
export const PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'];
// Ref: OpenTelemetry JS 3.x migration: @opentelemetry/propagator-jaeger was removed upstream
// (Jaeger itself reads W3C trace context); named, it gets its own line rather than "unknown".
export const REMOVED_PROPAGATORS = ['jaeger'];
export const LOG_LEVELS: readonly LogLevelName[] = [
  'none',
  'error',
  'warn',
  'info',
  'debug',
  'verbose',
  'all',
];
/** Detectors that only read local state. Cloud ones (aws, gcp, azure, alibaba) call metadata services. */
export const LOCAL_DETECTORS = ['env', 'host', 'os', 'process', 'container'];
export const CLOUD_DETECTORS = ['alibaba', 'aws', 'azure', 'gcp'];
export const DEFAULT_DETECTORS = ['env', 'host', 'os', 'process'];
/**
 * Off unless named in OTEL_NODE_ENABLED_INSTRUMENTATIONS: fs (upstream default too), host-metrics
 * (upstream default too), and dns and net, whose spans are noise around every HTTP call.
 */
export const DEFAULT_DISABLED_INSTRUMENTATIONS: readonly string[] = [
  'fs',
  'dns',
  'net',
  'host-metrics',
];
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

export const OTLP_SUFFIXES = [
  'PROTOCOL',
  'ENDPOINT',
  'HEADERS',
  'TIMEOUT',
  'COMPRESSION',
  'INSECURE',
  'CERTIFICATE',
  'CLIENT_KEY',
  'CLIENT_CERTIFICATE',
] as const;
export const BATCH_SUFFIXES = [
  'SCHEDULE_DELAY',
  'EXPORT_TIMEOUT',
  'MAX_QUEUE_SIZE',
  'MAX_EXPORT_BATCH_SIZE',
] as const;

/**
 * Every variable readConfig reads that a user sets (the fork patch's markers excluded), in the
 * order otel-launch lists them. otel-launch derives one flag from each name; a test checks that
 * readConfig reads exactly these.
 */
export const CONFIG_VARS: readonly string[] = [
  'OTEL_SDK_DISABLED',
  'OTEL_CONFIG_FILE',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_EXPORTER',
  'OTEL_METRICS_EXPORTER',
  'OTEL_LOGS_EXPORTER',
  ...OTLP_SUFFIXES.map(s => `OTEL_EXPORTER_OTLP_${s}`),
  ...(['TRACES', 'METRICS', 'LOGS'] as const).flatMap(S =>
    OTLP_SUFFIXES.map(s => `OTEL_EXPORTER_OTLP_${S}_${s}`)
  ),
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_PROPAGATORS',
  ...BATCH_SUFFIXES.map(s => `OTEL_BSP_${s}`),
  ...BATCH_SUFFIXES.map(s => `OTEL_BLRP_${s}`),
  'OTEL_METRIC_EXPORT_INTERVAL',
  'OTEL_METRIC_EXPORT_TIMEOUT',
  'OTEL_EXPORTER_PROMETHEUS_HOST',
  'OTEL_EXPORTER_PROMETHEUS_PORT',
  'OTEL_NODE_ENABLED_INSTRUMENTATIONS',
  'OTEL_NODE_DISABLED_INSTRUMENTATIONS',
  'OTEL_NODE_RESOURCE_DETECTORS',
  'OTEL_LOG_LEVEL',
  'OTEL_FORKSAFE_EXCLUDE',
  'OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS',
  'OTEL_FORKSAFE_THREADS',
  'OTEL_FORKSAFE_CODE_CACHE',
];

/**
 * Variables readConfig reads that describe the platform rather than configure us: AWS Lambda
 * (whether its instrumentation can do anything) and pm2 (the instance number an app container
 * runs as). No flag mirrors them.
 */
export const PLATFORM_VARS: readonly string[] = [
  'LAMBDA_TASK_ROOT',
  '_HANDLER',
  'pm2_env',
  'pm_id',
  'NODE_APP_INSTANCE',
  'PM2_PROCESS_INSTANCE_VAR',
  'instance_var',
  'kill_timeout',
];

/**
 * Standard variables readConfig leaves to the SDK packages, which read them themselves (span,
 * attribute and log-record limits, metric exporter preferences). Known, so not flagged as typos.
 * Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
 */
export const SDK_HANDLED_VARS: readonly string[] = [
  'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
  'OTEL_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT',
  'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_SPAN_EVENT_COUNT_LIMIT',
  'OTEL_SPAN_LINK_COUNT_LIMIT',
  'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT',
  'OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT',
  'OTEL_METRICS_EXEMPLAR_FILTER',
  'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
  'OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION',
  'OTEL_SEMCONV_STABILITY_OPT_IN',
];
