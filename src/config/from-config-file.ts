// The model the SDK's parser made of a configuration file, as the ForksafeConfig our own build
// takes (src/sdk/start.ts: our exporters and transport, the exit-time flush, lazy loading), or
// one sentence naming what otel-forksafe cannot honour. Pure; used where config-file.ts is.
// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#declarative-configuration
// (with a file, the file decides: the standard OTEL_* variables count only through ${…})
import type { ConfigurationModel } from '@opentelemetry/configuration';
import type { LogLevelName } from '../diag.ts';
import type {
  BatchConfig,
  ExporterName,
  ForksafeConfig,
  MetricExporterName,
  OtlpProtocol,
  OtlpSignalConfig,
  SamplerName,
  Signal,
} from './types.ts';

/** The three merge helpers of @opentelemetry/configuration (their `*_list` semantics). */
export interface ModelMergers {
  mergeHeadersConfig(
    headers?: { name: string; value: string | null }[],
    list?: string | null
  ): Record<string, string> | undefined;
  mergeResourceAttributesConfig(
    attributes?: { name: string; value: unknown; type?: string | null }[],
    list?: string | null
  ): { name: string; value: unknown; type?: string | null }[] | undefined;
  mergePropagatorCompositeConfig(
    composite?: Record<string, unknown>[],
    list?: string | null
  ): Record<string, unknown>[] | undefined;
}

/** What a file gives besides the config: the id it names, and what was left out. */
export interface FileSettings {
  readonly config: ForksafeConfig;
  /** service.instance.id from the file's resource: a standalone process's, a worker's base. */
  readonly instanceId: string | undefined;
  /** Settings of the file that change nothing here, one sentence each (shown, not fatal). */
  readonly lints: readonly string[];
}

/** Thrown inside the mapping for a setting we cannot honour; caught at its end. */
class Unsupported extends Error {}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

// Settings whose absence or presence changes no telemetry we send: named in a lint, never fatal.
const IGNORED = new Set([
  '/attribute_limits',
  '/distribution',
  '/instrumentation/development',
  '/resource/schema_url',
  '/tracer_provider/limits',
  '/logger_provider/limits',
  '/meter_provider/exemplar_filter',
]);

/** The only key of a one-of object (`{ batch: {...} }`), or a rejection naming `where`. */
function single(obj: unknown, where: string): [string, Json] {
  const keys = isObject(obj)
    ? Object.keys(obj).filter(k => obj[k] !== undefined)
    : [];
  if (!isObject(obj) || keys.length !== 1 || keys[0] === undefined) {
    throw new Unsupported(`${where}: expected exactly one entry`);
  }
  const value = obj[keys[0]];
  return [keys[0], isObject(value) ? value : {}];
}

class Mapper {
  readonly lints: string[] = [];
  private readonly merge: ModelMergers;
  constructor(merge: ModelMergers) {
    this.merge = merge;
  }

  /** Checks an object's keys: handled ones pass, IGNORED ones lint, anything else rejects. */
  keys(obj: Json, where: string, handled: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (obj[key] === undefined || handled.includes(key)) continue;
      const path = `${where}/${key}`;
      if (IGNORED.has(path)) {
        this.lints.push(`${path} is not applied by otel-forksafe (ignored)`);
      } else {
        throw new Unsupported(`${path} is not supported by otel-forksafe`);
      }
    }
  }

  num(obj: Json, key: string, fallback: number, min: number): number {
    const v = obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      throw new Unsupported(
        `${key}: ${JSON.stringify(v)} (expected >= ${min})`
      );
    }
    return v;
  }

  otlp(signal: Signal, kind: string, e: Json, where: string): OtlpSignalConfig {
    const http = kind === 'otlp_http';
    const handled = ['endpoint', 'headers', 'headers_list', 'compression'];
    handled.push('timeout', 'tls');
    if (http) handled.push('encoding');
    if (signal === 'metrics') {
      handled.push('temporality_preference', 'default_histogram_aggregation');
      const t = e.temporality_preference ?? 'cumulative';
      const h = e.default_histogram_aggregation ?? 'explicit_bucket_histogram';
      if (t !== 'cumulative' || h !== 'explicit_bucket_histogram') {
        throw new Unsupported(
          `${where}: only cumulative temporality and explicit bucket histograms are supported`
        );
      }
    }
    this.keys(e, where, handled);
    const encoding = e.encoding ?? 'protobuf';
    const protocol: OtlpProtocol = !http
      ? 'grpc'
      : encoding === 'json'
        ? 'http/json'
        : 'http/protobuf';
    const endpoint = typeof e.endpoint === 'string' ? e.endpoint : undefined;
    // Ref: configuration schema: an otlp_http endpoint is the signal's full URL; gRPC's the base.
    const url =
      endpoint ??
      (http ? `http://localhost:4318/v1/${signal}` : 'http://localhost:4317');
    if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url)) {
      throw new Unsupported(
        `${where}/endpoint: ${JSON.stringify(url)} is not an http:// or https:// URL`
      );
    }
    const compression = e.compression ?? 'none';
    if (compression !== 'gzip' && compression !== 'none') {
      throw new Unsupported(`${where}/compression: expected gzip or none`);
    }
    const tls = isObject(e.tls) ? e.tls : {};
    this.keys(tls, `${where}/tls`, ['ca_file', 'key_file', 'cert_file']);
    if (!http) this.keys(tls, `${where}/tls`, ['insecure']);
    const str = (v: unknown): string | undefined =>
      typeof v === 'string' && v !== '' ? v : undefined;
    return {
      protocol,
      url,
      // Dev note: 'env' here means "configured" (the file named it), as ValueSource has it.
      urlSource: endpoint === undefined ? 'default' : 'env',
      headers:
        this.merge.mergeHeadersConfig(
          e.headers as { name: string; value: string | null }[] | undefined,
          e.headers_list as string | undefined
        ) ?? {},
      timeoutMillis: this.num(e, 'timeout', 10000, 1),
      compression,
      insecure: typeof tls.insecure === 'boolean' ? tls.insecure : undefined,
      certificateFile: str(tls.ca_file),
      clientKeyFile: str(tls.key_file),
      clientCertificateFile: str(tls.cert_file),
    };
  }

  /** The exporters of one signal, its OTLP settings, and its processor's or reader's timing. */
  pipeline(
    signal: Signal,
    items: unknown[],
    where: string,
    base: ForksafeConfig
  ): { names: MetricExporterName[]; otlp: OtlpSignalConfig; timing: Json } {
    const names: MetricExporterName[] = [];
    let otlp = base.otlp[signal];
    let timing: Json = {};
    items.forEach((item, i) => {
      const at = `${where}/${i}`;
      const [kind, body] = single(item, at);
      const allowed = signal === 'metrics' ? ['periodic'] : ['batch', 'simple'];
      if (!allowed.includes(kind)) {
        throw new Unsupported(
          `${at}/${kind} is not supported by otel-forksafe${kind === 'pull' ? ' (a cluster serves Prometheus from its primary, which does not read the file: use OTEL_METRICS_EXPORTER=prometheus without a file)' : ''}`
        );
      }
      const timingKeys =
        kind === 'periodic'
          ? ['interval', 'timeout']
          : kind === 'batch'
            ? ['schedule_delay', 'export_timeout']
            : [];
      if (kind === 'batch') timingKeys.push('max_queue_size');
      if (kind === 'batch') timingKeys.push('max_export_batch_size');
      this.keys(body, `${at}/${kind}`, ['exporter', ...timingKeys]);
      const [exporter, settings] = single(
        body.exporter,
        `${at}/${kind}/exporter`
      );
      const name = exporter.startsWith('otlp_') ? 'otlp' : exporter;
      if (name !== 'otlp' && name !== 'console') {
        throw new Unsupported(
          `${at}/${kind}/exporter/${exporter} is not supported by otel-forksafe (otlp_grpc, otlp_http or console)`
        );
      }
      if (names.includes(name)) {
        throw new Unsupported(
          `${where}: one ${name} exporter per signal is supported, the file has more`
        );
      }
      names.push(name);
      // The one processor's or reader's timing: the OTLP one's when there is one.
      const own = kind === 'simple' ? { schedule_delay: 0 } : body;
      if (name === 'console') {
        if (!names.includes('otlp')) timing = own;
        return;
      }
      if (exporter !== 'otlp_http' && exporter !== 'otlp_grpc') {
        throw new Unsupported(
          `${at}/${kind}/exporter/${exporter} is not supported`
        );
      }
      otlp = this.otlp(
        signal,
        exporter,
        settings,
        `${at}/${kind}/exporter/${exporter}`
      );
      if (kind === 'simple') {
        this.lints.push(
          `${at}/simple exports through a batch processor with schedule_delay 0`
        );
        timing = { schedule_delay: 0 };
      } else timing = body;
    });
    return { names, otlp, timing };
  }

  batch(timing: Json, delay: number): BatchConfig {
    const maxQueueSize = this.num(timing, 'max_queue_size', 2048, 1);
    return {
      scheduledDelayMillis: this.num(timing, 'schedule_delay', delay, 0),
      exportTimeoutMillis: this.num(timing, 'export_timeout', 30000, 1),
      maxQueueSize,
      maxExportBatchSize: Math.min(
        maxQueueSize,
        this.num(timing, 'max_export_batch_size', 512, 1)
      ),
    };
  }

  sampler(s: unknown, where: string): ForksafeConfig['sampler'] {
    if (s === undefined || s === null) {
      return { name: 'parentbased_always_on', ratio: 1 };
    }
    const [kind, body] = single(s, where);
    const ratioOf = (b: Json): number => {
      const r = this.num(b, 'ratio', 1, 0);
      if (r > 1) throw new Unsupported(`${where}: ratio must be from 0 to 1`);
      return r;
    };
    if (kind === 'always_on' || kind === 'always_off')
      return { name: kind, ratio: 1 };
    if (kind === 'trace_id_ratio_based') {
      return { name: 'traceidratio', ratio: ratioOf(body) };
    }
    if (kind === 'parent_based') {
      // Only the root is configurable here; the four parent cases keep their defaults.
      this.keys(body, `${where}/parent_based`, ['root']);
      const root = this.sampler(
        body.root ?? { always_on: null },
        `${where}/parent_based/root`
      );
      if (root.name.startsWith('parentbased_')) {
        throw new Unsupported(
          `${where}/parent_based/root cannot be parent_based`
        );
      }
      return {
        name: `parentbased_${root.name}` as SamplerName,
        ratio: root.ratio,
      };
    }
    throw new Unsupported(`${where}/${kind} is not supported by otel-forksafe`);
  }
}

const LOG_LEVELS: Record<string, LogLevelName> = {
  trace: 'verbose',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'error',
};

/**
 * Maps a parsed file onto `base` (the environment's config: our own OTEL_FORKSAFE_* knobs, the
 * instrumentation lists and the worker marker stay). Returns one sentence when the file asks
 * for something otel-forksafe cannot honour. Never throws.
 */
export function configFromModel(
  model: ConfigurationModel,
  base: ForksafeConfig,
  merge: ModelMergers
): { ok: true; settings: FileSettings } | { ok: false; reason: string } {
  const m = new Mapper(merge);
  const root = model as unknown as Json;
  try {
    m.keys(root, '', [
      'disabled',
      'log_level',
      'resource',
      'propagator',
      'tracer_provider',
      'meter_provider',
      'logger_provider',
    ]);
    const resource = isObject(root.resource) ? root.resource : {};
    m.keys(resource, '/resource', [
      'attributes',
      'attributes_list',
      'detection/development',
    ]);
    const attributes: Record<string, string> = {};
    const merged = merge.mergeResourceAttributesConfig(
      resource.attributes as { name: string; value: unknown }[] | undefined,
      resource.attributes_list as string | undefined
    );
    for (const { name, value, type } of merged ?? []) {
      if (Array.isArray(value) || type?.endsWith('_array')) {
        throw new Unsupported(
          `/resource/attributes: "${name}" is an array; only single values are supported`
        );
      }
      if (
        typeof value === 'string' ||
        typeof value === 'number' ||
        typeof value === 'boolean'
      )
        attributes[name] = String(value);
    }
    const detection = isObject(resource['detection/development'])
      ? resource['detection/development']
      : {};
    m.keys(detection, '/resource/detection/development', ['detectors']);
    // Ref: configuration schema: without detection/development, no detector runs.
    const detectors = ['env'];
    let hasServiceDetector = false;
    for (const d of (detection.detectors as unknown[] | undefined) ?? []) {
      const [name] = single(d, '/resource/detection/development/detectors');
      if (name === 'host') detectors.push('host', 'os');
      else if (name === 'process' || name === 'container') detectors.push(name);
      else if (name === 'service') hasServiceDetector = true;
      else {
        throw new Unsupported(
          `resource detector ${JSON.stringify(name)} is not supported`
        );
      }
    }
    const propagator = isObject(root.propagator) ? root.propagator : {};
    m.keys(propagator, '/propagator', ['composite', 'composite_list']);
    const propagators = (
      merge.mergePropagatorCompositeConfig(
        propagator.composite as Record<string, unknown>[] | undefined,
        propagator.composite_list as string | undefined
      ) ?? []
    ).map(p => single(p, '/propagator/composite')[0]);
    const unknown = propagators.filter(
      p => !['tracecontext', 'baggage', 'b3', 'b3multi'].includes(p)
    );
    if (unknown.length > 0) {
      throw new Unsupported(
        `/propagator: ${unknown.join(', ')} not supported (tracecontext, baggage, b3, b3multi)`
      );
    }

    const provider = (key: string, handled: string[]): Json | undefined => {
      if (!isObject(root[key])) return undefined;
      m.keys(root[key], `/${key}`, handled);
      return root[key];
    };
    const traces = provider('tracer_provider', [
      'processors',
      'sampler',
      'id_generator',
    ]);
    if (traces?.id_generator !== undefined && traces.id_generator !== null) {
      if (
        single(traces.id_generator, '/tracer_provider/id_generator')[0] !==
        'random'
      ) {
        throw new Unsupported(
          '/tracer_provider/id_generator: only random is supported'
        );
      }
    }
    const metrics = provider('meter_provider', ['readers', 'views']);
    if (Array.isArray(metrics?.views) && metrics.views.length > 0) {
      throw new Unsupported(
        '/meter_provider/views are not supported by otel-forksafe'
      );
    }
    const logs = provider('logger_provider', ['processors']);
    const list = (p: Json | undefined, key: string): unknown[] =>
      Array.isArray(p?.[key]) ? (p[key] as unknown[]) : [];
    const t = m.pipeline(
      'traces',
      list(traces, 'processors'),
      '/tracer_provider/processors',
      base
    );
    const mt = m.pipeline(
      'metrics',
      list(metrics, 'readers'),
      '/meter_provider/readers',
      base
    );
    const l = m.pipeline(
      'logs',
      list(logs, 'processors'),
      '/logger_provider/processors',
      base
    );

    const severity =
      typeof root.log_level === 'string' ? root.log_level : undefined;
    const config: ForksafeConfig = {
      ...base,
      disabled: root.disabled === true,
      // The service detector is the file's way to take OTEL_SERVICE_NAME.
      serviceName:
        attributes['service.name'] ??
        (hasServiceDetector ? base.serviceName : undefined),
      resourceAttributes: attributes,
      exporters: {
        traces: t.names as ExporterName[],
        metrics: mt.names,
        logs: l.names as ExporterName[],
      },
      otlp: { traces: t.otlp, metrics: mt.otlp, logs: l.otlp },
      sampler: m.sampler(traces?.sampler, '/tracer_provider/sampler'),
      propagators,
      bsp: m.batch(t.timing, 5000),
      blrp: m.batch(l.timing, 1000),
      metricExport: {
        intervalMillis: m.num(mt.timing, 'interval', 60000, 1),
        timeoutMillis: m.num(mt.timing, 'timeout', 30000, 1),
      },
      resourceDetectors: detectors,
      logLevel:
        severity === undefined
          ? base.logLevel
          : (LOG_LEVELS[severity.replace(/\d$/, '')] ?? base.logLevel),
      problems: [],
    };
    return {
      ok: true,
      settings: {
        config,
        instanceId: attributes['service.instance.id'],
        lints: m.lints,
      },
    };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: text.split('\n')[0] ?? text };
  }
}
