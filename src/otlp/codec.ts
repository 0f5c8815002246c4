// OTLP encoding and decoding for the receiver core (--local, the test sink) and doctor: protobuf
// requests to and from OTLP/JSON-shaped objects, and per-resource counts of what a request
// carries. Loaded only by those, so a plain `otel-launch node app.js` never parses the schema.
import protobuf from 'protobufjs';
import type { Root, Type } from 'protobufjs';
import type { Signal } from '../config/types.ts';
import { OTLP_PACKAGE, OTLP_PROTO } from './schema.ts';

/** An export request as OTLP/JSON: lowerCamelCase keys, hex ids, int64s as strings. */
export type OtlpJson = Record<string, unknown>;

const REQUEST_TYPES: Record<Signal, string> = {
  traces: 'ExportTraceServiceRequest',
  metrics: 'ExportMetricsServiceRequest',
  logs: 'ExportLogsServiceRequest',
};

/** The top-level key of each signal's request (`resourceSpans`, …). */
export const RESOURCE_KEYS: Readonly<Record<Signal, string>> = {
  traces: 'resourceSpans',
  metrics: 'resourceMetrics',
  logs: 'resourceLogs',
};

let root: Root | undefined;
let types: Record<Signal, Type> | undefined;

function schema(): Root {
  root ??= protobuf.parse(OTLP_PROTO, { keepCase: false }).root;
  return root;
}

function requestType(signal: Signal): Type {
  types ??= (() => {
    const t = (name: string): Type =>
      schema().lookupType(`${OTLP_PACKAGE}.${name}`);
    return {
      traces: t(REQUEST_TYPES.traces),
      metrics: t(REQUEST_TYPES.metrics),
      logs: t(REQUEST_TYPES.logs),
    };
  })();
  return types[signal];
}

/** The values of an OTLP enum by name: `Span.SpanKind`, `Status.StatusCode`, `SeverityNumber`. */
export function otlpEnumValues(name: string): Readonly<Record<string, number>> {
  return schema().lookupEnum(`${OTLP_PACKAGE}.${name}`).values;
}

// Ref: https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding: trace and span ids are
// hex strings in OTLP/JSON, other bytes base64 (what protobufjs produces for every bytes field).
const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);

function idsToHex(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(idsToHex);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      ID_KEYS.has(k) && typeof v === 'string'
        ? Buffer.from(v, 'base64').toString('hex')
        : idsToHex(v);
  }
  return out;
}

/** Decodes a protobuf export request into OTLP/JSON form. Throws on malformed bytes. */
export function decodeRequest(signal: Signal, bytes: Uint8Array): OtlpJson {
  const type = requestType(signal);
  const object = type.toObject(type.decode(bytes), {
    longs: String,
    enums: Number,
    bytes: String,
  });
  return idsToHex(object) as OtlpJson;
}

/** Rewrites snake_case keys (proto field names, which OTLP/JSON receivers accept) to camelCase. */
export function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())] =
      camelKeys(v);
  }
  return out;
}

/** Encodes an OTLP/JSON-shaped request (ids as hex) as protobuf. Throws on a bad shape. */
export function encodeRequest(signal: Signal, request: OtlpJson): Uint8Array {
  const type = requestType(signal);
  const withBytes = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(withBytes);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] =
        ID_KEYS.has(k) && typeof v === 'string'
          ? Buffer.from(v, 'hex')
          : withBytes(v);
    }
    return out;
  };
  return type.encode(type.fromObject(withBytes(request) as OtlpJson)).finish();
}

/** What one resource (one process) sent, by signal. */
export interface ResourceCounts {
  readonly resource: Readonly<Record<string, unknown>>;
  readonly spans: number;
  readonly metricPoints: number;
  readonly logRecords: number;
}

interface JsonKeyValue {
  key?: string;
  value?: Record<string, unknown>;
}

/** Plain values of a KeyValue list (arrays and maps kept as their JSON form). */
export function attributesOf(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(list)) return out;
  for (const kv of list as JsonKeyValue[]) {
    if (typeof kv.key !== 'string') continue;
    const v = kv.value ?? {};
    if ('stringValue' in v) out[kv.key] = v.stringValue;
    else if ('intValue' in v) out[kv.key] = Number(v.intValue);
    else if ('doubleValue' in v) out[kv.key] = Number(v.doubleValue);
    else if ('boolValue' in v) out[kv.key] = v.boolValue;
    else out[kv.key] = v;
  }
  return out;
}

const arr = (value: unknown): Array<Record<string, unknown>> =>
  Array.isArray(value) ? (value as Array<Record<string, unknown>>) : [];

function countMetricPoints(metric: Record<string, unknown>): number {
  let n = 0;
  for (const kind of [
    'gauge',
    'sum',
    'histogram',
    'exponentialHistogram',
    'summary',
  ]) {
    const data = metric[kind] as { dataPoints?: unknown } | undefined;
    if (data) n += arr(data.dataPoints).length;
  }
  return n;
}

/** Counts the spans, metric points or log records of a request, per resource. */
export function countRequest(
  signal: Signal,
  request: OtlpJson
): ResourceCounts[] {
  return arr(request[RESOURCE_KEYS[signal]]).map(entry => {
    const resource = attributesOf(
      (entry.resource as { attributes?: unknown } | undefined)?.attributes
    );
    let n = 0;
    if (signal === 'traces') {
      for (const scope of arr(entry.scopeSpans)) n += arr(scope.spans).length;
    } else if (signal === 'metrics') {
      for (const scope of arr(entry.scopeMetrics)) {
        for (const metric of arr(scope.metrics)) n += countMetricPoints(metric);
      }
    } else {
      for (const scope of arr(entry.scopeLogs))
        n += arr(scope.logRecords).length;
    }
    return {
      resource,
      spans: signal === 'traces' ? n : 0,
      metricPoints: signal === 'metrics' ? n : 0,
      logRecords: signal === 'logs' ? n : 0,
    };
  });
}
