// readConfig(env): the only reader of the environment. Turns the standard OTEL_* variables and
// our OTEL_FORKSAFE_* knobs into one frozen ForksafeConfig plus a list of problems to report.
// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
// Ref: https://opentelemetry.io/docs/specs/otel/protocol/exporter/
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { INSTRUMENTATION_NAMES } from '../instrumentation/table.ts';
import { parsePm2Env, pm2ProcessFrom } from '../identity/pm2.ts';
import { DEFAULT_EXCLUDED_TOOLS } from '../preload/classify.ts';
import { readConfigFileSetting } from './config-file-var.ts';
import { parseKeyValueList, Reader, type Env } from './env-reader.ts';
import { readExporters, readOtlpSignal } from './otlp.ts';
import type {
  BatchConfig,
  ForksafeConfig,
  OtlpSignalConfig,
  PrometheusConfig,
  Signal,
  WorkerMarker,
} from './types.ts';
import {
  CLOUD_DETECTORS,
  DEFAULT_DETECTORS,
  DEFAULT_DISABLED_INSTRUMENTATIONS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  LOCAL_DETECTORS,
  LOG_LEVELS,
  PROPAGATORS,
  REMOVED_PROPAGATORS,
  SAMPLERS,
  SIGNALS,
  WORKER_MARKER_VARS,
} from './vars.ts';

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
    configFile: readConfigFileSetting(env, r.problems),
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
