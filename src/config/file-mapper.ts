// The pieces of a configuration file's model that take more than a line to map: the OTLP
// exporters, each signal's processors or readers, batch timing and samplers, checked key by key
// (what we cannot honour is thrown as Unsupported). Used by from-config-file.ts only.
import type {
  BatchConfig,
  ForksafeConfig,
  MetricExporterName,
  OtlpProtocol,
  OtlpSignalConfig,
  SamplerName,
  Signal,
} from './types.ts';
import type { ModelMergers } from './from-config-file.ts';

/** Thrown inside the mapping for a setting we cannot honour; caught at its end. */
export class Unsupported extends Error {}

/** A mapping of the model, as parsed. */
export type Json = Record<string, unknown>;

/** True for a mapping (not null, not a list). */
export const isObject = (v: unknown): v is Json =>
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
export function single(obj: unknown, where: string): [string, Json] {
  const keys = isObject(obj)
    ? Object.keys(obj).filter(k => obj[k] !== undefined)
    : [];
  if (!isObject(obj) || keys.length !== 1 || keys[0] === undefined) {
    throw new Unsupported(`${where}: expected exactly one entry`);
  }
  const value = obj[keys[0]];
  return [keys[0], isObject(value) ? value : {}];
}

/** Maps parts of the model, collecting lints; throws Unsupported for what it cannot honour. */
export class Mapper {
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
