// The OTLP exporter variables: per-signal endpoint, protocol, headers, timeout, compression and
// TLS files, with the general variables as fallback; and the exporter selection per signal.
// Ref: https://opentelemetry.io/docs/specs/otel/protocol/exporter/
import { parseKeyValueList, type Reader } from './env-reader.ts';
import type {
  ExporterName,
  MetricExporterName,
  OtlpSignalConfig,
  Signal,
  ValueSource,
} from './types.ts';
import { PROTOCOLS } from './vars.ts';

const SIGNAL_PATH: Record<Signal, string> = {
  traces: 'v1/traces',
  metrics: 'v1/metrics',
  logs: 'v1/logs',
};

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

/** The OTLP settings of one signal. */
export function readOtlpSignal(r: Reader, signal: Signal): OtlpSignalConfig {
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

/** The exporters OTEL_<SIGNAL>_EXPORTER names (otlp by default). */
export function readExporters(
  r: Reader,
  signal: 'traces' | 'logs'
): ExporterName[];
export function readExporters(
  r: Reader,
  signal: 'metrics'
): MetricExporterName[];
export function readExporters(r: Reader, signal: Signal): MetricExporterName[] {
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
