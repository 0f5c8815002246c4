// readConfig(env): the only reader of the environment. Turns the standard OTEL_* variables and
// our OTEL_FORKSAFE_* knobs into one frozen ForksafeConfig plus a list of problems to report.
// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
// Ref: https://opentelemetry.io/docs/specs/otel/protocol/exporter/
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { LogLevelName } from '../diag.ts';
import { INSTRUMENTATION_NAMES } from '../instrumentation/table.ts';
import {
  parsePm2Env,
  pm2ProcessFrom,
  type Pm2Process,
} from '../identity/pm2.ts';

/** A telemetry signal. */
export type Signal = 'traces' | 'metrics' | 'logs';
/** OTEL_EXPORTER_OTLP_PROTOCOL values. */
export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
/** OTEL_{TRACES,METRICS,LOGS}_EXPORTER values we act on ('none' empties the list). */
export type ExporterName = 'otlp' | 'console';
/** OTEL_METRICS_EXPORTER also takes `prometheus` (a pull endpoint; see src/prometheus/). */
export type MetricExporterName = ExporterName | 'prometheus';
/** OTEL_TRACES_SAMPLER values. */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** Where a value came from, for diagnostics and `otel-launch --print-config`. */
export type ValueSource = 'env' | 'default';

/** The OTLP exporter settings of one signal, per-signal variables already merged in. */
export interface OtlpSignalConfig {
  readonly protocol: OtlpProtocol;
  /** Final URL: for http/* it ends in /v1/<signal>; for gRPC it is the base endpoint. */
  readonly url: string;
  readonly urlSource: ValueSource;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMillis: number;
  readonly compression: 'gzip' | 'none';
  /** gRPC only: OTEL_EXPORTER_OTLP_INSECURE; undefined means "follow the URL scheme". */
  readonly insecure: boolean | undefined;
  readonly certificateFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  readonly clientCertificateFile: string | undefined;
}

/** Batch processor settings (OTEL_BSP_* / OTEL_BLRP_*). */
export interface BatchConfig {
  readonly scheduledDelayMillis: number;
  readonly exportTimeoutMillis: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
}

/** Where the Prometheus scrape endpoint listens (used when OTEL_METRICS_EXPORTER has prometheus). */
export interface PrometheusConfig {
  /** OTEL_EXPORTER_PROMETHEUS_HOST, default `localhost`. */
  readonly host: string;
  /** OTEL_EXPORTER_PROMETHEUS_PORT, default 9464. */
  readonly port: number;
}

/** OTEL_FORKSAFE_THREADS values. */
export type ThreadsMode = 'dormant' | 'export';

/** Identity a worker received from the primary's fork patch (internal env markers). */
export interface WorkerMarker {
  readonly slot: number;
  readonly primaryPid: number;
  readonly instanceBase: string;
}

/** Everything the preload needs, read once per process. */
export interface ForksafeConfig {
  readonly disabled: boolean;
  readonly serviceName: string | undefined;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly exporters: {
    readonly traces: readonly ExporterName[];
    readonly metrics: readonly MetricExporterName[];
    readonly logs: readonly ExporterName[];
  };
  /** OTEL_EXPORTER_PROMETHEUS_HOST and _PORT: where the one scrape endpoint listens. */
  readonly prometheus: PrometheusConfig;
  readonly otlp: Readonly<Record<Signal, OtlpSignalConfig>>;
  readonly sampler: { readonly name: SamplerName; readonly ratio: number };
  readonly propagators: readonly string[];
  readonly bsp: BatchConfig;
  readonly blrp: BatchConfig;
  readonly metricExport: {
    readonly intervalMillis: number;
    readonly timeoutMillis: number;
  };
  /** Short names (`http`, `express`) of the instrumentations to enable. */
  readonly instrumentations: readonly string[];
  readonly resourceDetectors: readonly string[];
  readonly logLevel: LogLevelName;
  /** Main-script names for which the preload does nothing (npm, npx, …). */
  readonly exclude: readonly string[];
  readonly shutdownTimeoutMillis: number;
  readonly worker: WorkerMarker | undefined;
  /**
   * OTEL_FORKSAFE_THREADS: `dormant` (default, one SDK per process, threads export nothing) or
   * `export` (each worker thread starts an SDK under its process's identity plus thread.id).
   */
  readonly threads: ThreadsMode;
  /**
   * OTEL_FORKSAFE_CODE_CACHE: where V8's code cache of our bundles is kept (default: a per-user
   * directory under the OS temp dir), or undefined when it is `false`. See src/code-cache.ts.
   */
  readonly codeCacheDir: string | undefined;
  /**
   * pm2's fields when the environment has them (cluster mode: `pm2_env`; fork mode: spread
   * variables). bootstrap trusts them only in pm2's app container; see src/pm2.ts.
   */
  readonly pm2: Pm2Process | undefined;
  /** One sentence per bad value: the variable, the value, what was used instead. */
  readonly problems: readonly string[];
}

type Env = Readonly<Record<string, string | undefined>>;

/** Names of the internal variables the fork patch passes to workers. */
export const WORKER_MARKER_VARS = {
  slot: 'OTEL_FORKSAFE_WORKER_SLOT',
  primaryPid: 'OTEL_FORKSAFE_PRIMARY_PID',
  instanceBase: 'OTEL_FORKSAFE_INSTANCE_BASE',
  /** Digest of the config problems the primary already reported. */
  reported: 'OTEL_FORKSAFE_REPORTED',
} as const;

const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];
const PROTOCOLS: readonly OtlpProtocol[] = [
  'grpc',
  'http/protobuf',
  'http/json',
];
const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
const PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'];
// Ref: OpenTelemetry JS 3.x migration: @opentelemetry/propagator-jaeger was removed upstream
// (Jaeger itself reads W3C trace context); named, it gets its own line rather than "unknown".
const REMOVED_PROPAGATORS = ['jaeger'];
const LOG_LEVELS: readonly LogLevelName[] = [
  'none',
  'error',
  'warn',
  'info',
  'debug',
  'verbose',
  'all',
];
/** Detectors that only read local state. Cloud ones (aws, gcp, azure, alibaba) call metadata services. */
const LOCAL_DETECTORS = ['env', 'host', 'os', 'process', 'container'];
const CLOUD_DETECTORS = ['alibaba', 'aws', 'azure', 'gcp'];
const DEFAULT_DETECTORS = ['env', 'host', 'os', 'process'];
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
/** Package-manager and build-tool scripts that must stay dark under NODE_OPTIONS. */
export const DEFAULT_EXCLUDED_TOOLS: readonly string[] = [
  // Dev note: otel-launch run inside otel-launch inherits NODE_OPTIONS with the preload; the
  // inner launcher is a tool too, so only the app at the end of the chain exports.
  'otel-launch',
  'npm',
  'npx',
  'yarn',
  'pnpm',
  'pnpx',
  'corepack',
  'node-gyp',
  'tsc',
  // Supervisors: their own process stays dark, the app processes they start are instrumented
  // (pm2's app containers are told apart in process-role.ts).
  'pm2',
  'pm2-runtime',
  'nodemon',
];
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

const OTLP_SUFFIXES = [
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
const BATCH_SUFFIXES = [
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

const SIGNAL_PATH: Record<Signal, string> = {
  traces: 'v1/traces',
  metrics: 'v1/metrics',
  logs: 'v1/logs',
};

class Reader {
  readonly problems: string[] = [];
  readonly env: Env;
  constructor(env: Env) {
    this.env = env;
  }

  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  /**
   * Records one sentence for a bad value. A variable shared by the three signals (the
   * OTEL_EXPORTER_OTLP_* ones) is read three times but reported once.
   */
  problem(name: string, value: string, expected: string, used: string): void {
    this.report(
      name,
      `${name}=${JSON.stringify(value)} is not valid (${expected}); using ${used}`
    );
  }

  report(name: string, sentence: string): void {
    if (this.reported.has(name)) return;
    this.reported.add(name);
    this.problems.push(sentence);
  }

  private readonly reported = new Set<string>();

  // Ref: spec "Parsing empty value" and "Boolean value": only "true" is true, case-insensitive.
  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    this.problem(name, value, 'expected true or false', String(fallback));
    return fallback;
  }

  // Ref: spec "Numeric value": invalid values are ignored with a warning.
  number(
    name: string,
    fallback: number,
    opts: { min?: number; max?: number; integer?: boolean } = {}
  ): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    const min = opts.min ?? 0;
    const ok =
      Number.isFinite(n) &&
      n >= min &&
      (opts.max === undefined || n <= opts.max) &&
      (!opts.integer || Number.isInteger(n));
    if (ok) return n;
    const range =
      opts.max === undefined
        ? `expected a ${opts.integer ? 'whole ' : ''}number >= ${min}`
        : `expected a number from ${min} to ${opts.max}`;
    this.problem(name, value, range, String(fallback));
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase() as T;
    if (allowed.includes(lower)) return lower;
    this.problem(
      name,
      value,
      `expected one of ${allowed.join(', ')}`,
      fallback
    );
    return fallback;
  }

  list(name: string): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    return value
      .split(',')
      .map(s => s.trim())
      .filter(s => s !== '');
  }
}

/**
 * Parses a W3C-baggage-style `key=value,key2=value2` list (OTEL_RESOURCE_ATTRIBUTES and the
 * OTLP headers variables), percent-decoding keys and values. Returns undefined when malformed.
 * Ref: https://opentelemetry.io/docs/specs/otel/resource/sdk/#specifying-resource-information-via-an-environment-variable
 */
export function parseKeyValueList(
  text: string
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    try {
      const key = decodeURIComponent(part.slice(0, eq).trim());
      const value = decodeURIComponent(part.slice(eq + 1).trim());
      if (key === '') return undefined;
      out[key] = value;
    } catch {
      return undefined;
    }
  }
  return out;
}

function readHeaders(r: Reader, name: string): Record<string, string> {
  const value = r.raw(name);
  if (value === undefined) return {};
  const parsed = parseKeyValueList(value);
  if (parsed) return parsed;
  // Dev note: header values are secrets (API keys); the bad value is never printed.
  r.report(
    name,
    `${name} is malformed (expected key=value pairs separated by commas, values percent-encoded; value not shown); no headers from it are sent`
  );
  return {};
}

function isValidUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function joinPath(base: string, path: string): string {
  return base.endsWith('/') ? `${base}${path}` : `${base}/${path}`;
}

function readOtlpSignal(r: Reader, signal: Signal): OtlpSignalConfig {
  const S = signal.toUpperCase();
  const perSignal = (suffix: string): string =>
    r.raw(`OTEL_EXPORTER_OTLP_${S}_${suffix}`) !== undefined
      ? `OTEL_EXPORTER_OTLP_${S}_${suffix}`
      : `OTEL_EXPORTER_OTLP_${suffix}`;

  // Dev note: gRPC is our default protocol (the spec's default is http/protobuf); the
  // brief of this project asks for gRPC, matching most collectors' first port.
  const protocol = r.oneOf(perSignal('PROTOCOL'), PROTOCOLS, 'grpc');
  const isGrpc = protocol === 'grpc';
  const defaultBase = isGrpc
    ? 'http://localhost:4317'
    : 'http://localhost:4318';

  let url = isGrpc ? defaultBase : joinPath(defaultBase, SIGNAL_PATH[signal]);
  let urlSource: ValueSource = 'default';
  const specificName = `OTEL_EXPORTER_OTLP_${S}_ENDPOINT`;
  const specific = r.raw(specificName);
  const base = r.raw('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (specific !== undefined) {
    // Ref: exporter spec: a per-signal endpoint is used as is, with no path appended.
    if (isValidUrl(specific)) {
      url = specific;
      urlSource = 'env';
    } else {
      r.problem(
        specificName,
        specific,
        'expected an http:// or https:// URL',
        url
      );
    }
  } else if (base !== undefined) {
    if (isValidUrl(base)) {
      url = isGrpc ? base : joinPath(base, SIGNAL_PATH[signal]);
      urlSource = 'env';
    } else {
      r.problem(
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        base,
        'expected an http:// or https:// URL',
        defaultBase
      );
    }
  }

  const headers = {
    ...readHeaders(r, 'OTEL_EXPORTER_OTLP_HEADERS'),
    ...readHeaders(r, `OTEL_EXPORTER_OTLP_${S}_HEADERS`),
  };
  const insecureName = perSignal('INSECURE');
  return {
    protocol,
    url,
    urlSource,
    headers,
    timeoutMillis: r.number(perSignal('TIMEOUT'), 10000, { min: 1 }),
    compression: r.oneOf(
      perSignal('COMPRESSION'),
      ['gzip', 'none'] as const,
      'none'
    ),
    insecure:
      r.raw(insecureName) === undefined
        ? undefined
        : r.bool(insecureName, false),
    certificateFile: r.raw(perSignal('CERTIFICATE')),
    clientKeyFile: r.raw(perSignal('CLIENT_KEY')),
    clientCertificateFile: r.raw(perSignal('CLIENT_CERTIFICATE')),
  };
}

function readExporters(r: Reader, signal: 'traces' | 'logs'): ExporterName[];
function readExporters(r: Reader, signal: 'metrics'): MetricExporterName[];
function readExporters(r: Reader, signal: Signal): MetricExporterName[] {
  const name = `OTEL_${signal.toUpperCase()}_EXPORTER`;
  // Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#exporter-selection
  // (prometheus is a value of OTEL_METRICS_EXPORTER only).
  const allowed: readonly MetricExporterName[] =
    signal === 'metrics'
      ? ['otlp', 'console', 'prometheus']
      : ['otlp', 'console'];
  const list = r.list(name);
  if (list === undefined) return ['otlp'];
  const lower = list.map(s => s.toLowerCase());
  if (lower.includes('none')) return [];
  const known = lower.filter((s): s is MetricExporterName =>
    allowed.includes(s as MetricExporterName)
  );
  const unknown = lower.filter(s => !allowed.includes(s as MetricExporterName));
  if (unknown.length > 0) {
    const used = known.length > 0 ? known.join(',') : 'otlp';
    r.problem(
      name,
      unknown.join(','),
      `expected ${allowed.join(', ')} or none`,
      used
    );
  }
  return known.length > 0 ? [...new Set(known)] : ['otlp'];
}

// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#prometheus-exporter
// (OTEL_EXPORTER_PROMETHEUS_HOST default localhost, OTEL_EXPORTER_PROMETHEUS_PORT default 9464).
function readPrometheus(r: Reader): PrometheusConfig {
  return {
    host: r.raw('OTEL_EXPORTER_PROMETHEUS_HOST') ?? 'localhost',
    port: r.number('OTEL_EXPORTER_PROMETHEUS_PORT', 9464, {
      min: 0,
      max: 65535,
      integer: true,
    }),
  };
}

function readSampler(r: Reader): ForksafeConfig['sampler'] {
  const name = r.oneOf(
    'OTEL_TRACES_SAMPLER',
    SAMPLERS,
    'parentbased_always_on'
  );
  const argName = 'OTEL_TRACES_SAMPLER_ARG';
  const usesRatio =
    name === 'traceidratio' || name === 'parentbased_traceidratio';
  // Ref: spec: the ratio sampler's argument is a probability in [0, 1], default 1.0.
  const ratio = usesRatio ? r.number(argName, 1, { min: 0, max: 1 }) : 1;
  return { name, ratio };
}

function readPropagators(r: Reader): string[] {
  const list = r.list('OTEL_PROPAGATORS');
  if (list === undefined) return ['tracecontext', 'baggage'];
  const all = [...new Set(list.map(s => s.toLowerCase()))];
  const removed = all.filter(p => REMOVED_PROPAGATORS.includes(p));
  const lower = all.filter(p => !REMOVED_PROPAGATORS.includes(p));
  if (removed.length > 0) {
    r.report(
      'OTEL_PROPAGATORS (removed)',
      `OTEL_PROPAGATORS=${JSON.stringify(removed.join(','))} is no longer available (removed in OpenTelemetry JS 3; Jaeger reads tracecontext); using ${lower.length > 0 ? lower.join(',') : 'none'}`
    );
  }
  const unknown = lower.filter(p => !PROPAGATORS.includes(p));
  const known = lower.filter(p => PROPAGATORS.includes(p));
  if (unknown.length > 0) {
    r.problem(
      'OTEL_PROPAGATORS',
      unknown.join(','),
      `expected a list of ${PROPAGATORS.join(', ')}`,
      known.length > 0 ? known.join(',') : 'none of them'
    );
  }
  return known.includes('none') ? [] : known;
}

function readBatch(r: Reader, prefix: 'BSP' | 'BLRP'): BatchConfig {
  const delay = prefix === 'BSP' ? 5000 : 1000;
  const v = (suffix: string, fallback: number, min: number): number =>
    r.number(`OTEL_${prefix}_${suffix}`, fallback, { min, integer: true });
  const maxQueueSize = v('MAX_QUEUE_SIZE', 2048, 1);
  let maxExportBatchSize = v('MAX_EXPORT_BATCH_SIZE', 512, 1);
  if (maxExportBatchSize > maxQueueSize) {
    // Ref: spec: the batch size must be less than or equal to the queue size.
    r.problem(
      `OTEL_${prefix}_MAX_EXPORT_BATCH_SIZE`,
      String(maxExportBatchSize),
      `must not exceed OTEL_${prefix}_MAX_QUEUE_SIZE=${maxQueueSize}`,
      String(maxQueueSize)
    );
    maxExportBatchSize = maxQueueSize;
  }
  return {
    scheduledDelayMillis: v('SCHEDULE_DELAY', delay, 0),
    exportTimeoutMillis: v('EXPORT_TIMEOUT', 30000, 1),
    maxQueueSize,
    maxExportBatchSize,
  };
}

function readInstrumentations(r: Reader): string[] {
  const check = (name: string): string[] | undefined => {
    const list = r.list(name);
    if (list === undefined) return undefined;
    // Accept the package name too: @opentelemetry/instrumentation-express -> express.
    const names = list.map(s =>
      s.toLowerCase().replace(/^@opentelemetry\/instrumentation-/, '')
    );
    const unknown = names.filter(n => !INSTRUMENTATION_NAMES.includes(n));
    if (unknown.length > 0) {
      r.problems.push(
        `${name} names unknown instrumentation${unknown.length > 1 ? 's' : ''} ${unknown.map(u => JSON.stringify(u)).join(', ')} (ignored; known: ${INSTRUMENTATION_NAMES.join(', ')})`
      );
    }
    return names.filter(n => INSTRUMENTATION_NAMES.includes(n));
  };
  const enabled = check('OTEL_NODE_ENABLED_INSTRUMENTATIONS');
  const disabled = check('OTEL_NODE_DISABLED_INSTRUMENTATIONS') ?? [];
  // Ref: auto-instrumentations-node README: the enabled list replaces the default set,
  // the disabled list is applied after it.
  const base =
    enabled ??
    INSTRUMENTATION_NAMES.filter(
      n => !DEFAULT_DISABLED_INSTRUMENTATIONS.includes(n)
    );
  // Dev note: outside AWS Lambda the aws-lambda instrumentation patches nothing (it looks for
  // LAMBDA_TASK_ROOT and _HANDLER itself), yet loading it costs a worker ~25 ms of startup.
  // Ref: @opentelemetry/instrumentation-aws-lambda, AwsLambdaInstrumentation.init().
  const inLambda =
    r.raw('LAMBDA_TASK_ROOT') !== undefined && r.raw('_HANDLER') !== undefined;
  return base.filter(
    n => !disabled.includes(n) && (n !== 'aws-lambda' || inLambda)
  );
}

function readDetectors(r: Reader): string[] {
  const list = r.list('OTEL_NODE_RESOURCE_DETECTORS');
  if (list === undefined) return DEFAULT_DETECTORS;
  const names = list.map(s => s.toLowerCase());
  if (names.includes('none')) return [];
  if (names.includes('all')) return [...LOCAL_DETECTORS, ...CLOUD_DETECTORS];
  // 'serviceinstance' is accepted and ignored: otel-forksafe always sets service.instance.id.
  const allowed = [...LOCAL_DETECTORS, ...CLOUD_DETECTORS, 'serviceinstance'];
  const unknown = names.filter(n => !allowed.includes(n));
  if (unknown.length > 0) {
    r.problem(
      'OTEL_NODE_RESOURCE_DETECTORS',
      unknown.join(','),
      `expected a list of ${allowed.join(', ')}, all or none`,
      'the others'
    );
  }
  return names.filter(n => allowed.includes(n) && n !== 'serviceinstance');
}

function readResourceAttributes(r: Reader): Record<string, string> {
  const value = r.raw('OTEL_RESOURCE_ATTRIBUTES');
  if (value === undefined) return {};
  const parsed = parseKeyValueList(value);
  if (parsed) return parsed;
  // Ref: resource SDK spec: on a parse error the whole value is discarded.
  r.problem(
    'OTEL_RESOURCE_ATTRIBUTES',
    value,
    'expected key=value pairs separated by commas, percent-encoded',
    'no attributes from it'
  );
  return {};
}

/** The default code cache directory: per user, so no one else's bytecode is ever run. */
export function defaultCodeCacheDir(): string {
  return join(tmpdir(), `otel-forksafe-${process.getuid?.() ?? 'user'}`);
}

function readCodeCacheDir(r: Reader): string | undefined {
  const value = r.raw('OTEL_FORKSAFE_CODE_CACHE');
  if (value === undefined || value === '' || value.toLowerCase() === 'true')
    return defaultCodeCacheDir();
  if (value.toLowerCase() === 'false') return undefined;
  if (isAbsolute(value)) return value;
  r.problem(
    'OTEL_FORKSAFE_CODE_CACHE',
    value,
    'expected true, false or an absolute directory',
    'the default directory'
  );
  return defaultCodeCacheDir();
}

function readWorkerMarker(r: Reader): WorkerMarker | undefined {
  const slot = r.raw(WORKER_MARKER_VARS.slot);
  const primaryPid = r.raw(WORKER_MARKER_VARS.primaryPid);
  const instanceBase = r.raw(WORKER_MARKER_VARS.instanceBase);
  if (
    slot === undefined ||
    primaryPid === undefined ||
    instanceBase === undefined
  ) {
    return undefined;
  }
  const s = Number(slot);
  const p = Number(primaryPid);
  if (!Number.isInteger(s) || s < 0 || !Number.isInteger(p) || p <= 0)
    return undefined;
  return { slot: s, primaryPid: p, instanceBase };
}

/**
 * Reads the whole configuration from `env` (default: process.env). Never throws: every bad
 * value falls back to its default and adds one sentence to `problems`.
 */
export function readConfig(env: Env = process.env): ForksafeConfig {
  const r = new Reader(env);
  const otlp = {} as Record<Signal, OtlpSignalConfig>;
  const exporters = {
    traces: readExporters(r, 'traces'),
    metrics: readExporters(r, 'metrics'),
    logs: readExporters(r, 'logs'),
  };
  for (const signal of SIGNALS) otlp[signal] = readOtlpSignal(r, signal);
  const config: ForksafeConfig = {
    disabled: r.bool('OTEL_SDK_DISABLED', false),
    serviceName: r.raw('OTEL_SERVICE_NAME'),
    resourceAttributes: readResourceAttributes(r),
    exporters,
    prometheus: readPrometheus(r),
    otlp,
    sampler: readSampler(r),
    propagators: readPropagators(r),
    bsp: readBatch(r, 'BSP'),
    blrp: readBatch(r, 'BLRP'),
    metricExport: {
      intervalMillis: r.number('OTEL_METRIC_EXPORT_INTERVAL', 60000, {
        min: 1,
      }),
      timeoutMillis: r.number('OTEL_METRIC_EXPORT_TIMEOUT', 30000, { min: 1 }),
    },
    instrumentations: readInstrumentations(r),
    resourceDetectors: readDetectors(r),
    logLevel: r.oneOf('OTEL_LOG_LEVEL', LOG_LEVELS, 'warn'),
    exclude: [
      ...DEFAULT_EXCLUDED_TOOLS,
      ...(r.list('OTEL_FORKSAFE_EXCLUDE') ?? []).map(s => s.toLowerCase()),
    ],
    shutdownTimeoutMillis: r.number(
      'OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS',
      DEFAULT_SHUTDOWN_TIMEOUT_MS,
      { min: 0, integer: true }
    ),
    threads: r.oneOf(
      'OTEL_FORKSAFE_THREADS',
      ['dormant', 'export'] as const,
      'dormant'
    ),
    codeCacheDir: readCodeCacheDir(r),
    worker: readWorkerMarker(r),
    // Ref: pm2 lib/ProcessContainer.js: the app's pm2 environment arrives as JSON in `pm2_env`.
    pm2:
      parsePm2Env(r.raw('pm2_env'), r.raw('PM2_PROCESS_INSTANCE_VAR')) ??
      pm2ProcessFrom(env, r.raw('PM2_PROCESS_INSTANCE_VAR')),
    problems: r.problems,
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The config as one JSON line for the debug preamble, header values redacted. */
export function describeConfig(config: ForksafeConfig): string {
  return JSON.stringify(config, (key, value: unknown) => {
    if (key === 'problems') return undefined;
    if (key === 'headers' && value && typeof value === 'object') {
      return Object.fromEntries(Object.keys(value).map(k => [k, '[REDACTED]']));
    }
    if (key === 'instrumentations' && Array.isArray(value))
      return value.join(',');
    return value;
  });
}
