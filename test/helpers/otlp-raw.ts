// Test-only: the decoded shapes of OTLP export requests (protobuf decoded by the receiver
// core, or OTLP/JSON as sent) and their conversion to plain values. Loaded by otlp-records.ts.
import { otlpEnumValues } from '../../src/otlp/codec.ts';

// ------------------------------------------------------------ enums

// JSON may name enum values; the names come from the schema otel-launch ships.
let enums:
  | Record<
      'spanKind' | 'statusCode' | 'severity',
      Readonly<Record<string, number>>
    >
  | undefined;

export function enumValues(): NonNullable<typeof enums> {
  enums ??= {
    spanKind: otlpEnumValues('Span.SpanKind'),
    statusCode: otlpEnumValues('Status.StatusCode'),
    severity: otlpEnumValues('SeverityNumber'),
  };
  return enums;
}

// ------------------------------------------------- raw (decoded) shapes
// The receiver core's decoded protobuf and OTLP/JSON share these camelCase shapes;
// they differ in int64s (string vs number|string) and possibly enums (number vs name).

export type RawBytes = Uint8Array | string;
export type RawLong = string | number;

export interface RawAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: RawLong;
  doubleValue?: number | string;
  arrayValue?: { values?: RawAnyValue[] };
  kvlistValue?: { values?: RawKeyValue[] };
  bytesValue?: RawBytes;
}
export interface RawKeyValue {
  key?: string;
  value?: RawAnyValue;
}
export interface RawResource {
  attributes?: RawKeyValue[];
}
export interface RawScope {
  name?: string;
}
export interface RawSpan {
  traceId?: RawBytes;
  spanId?: RawBytes;
  parentSpanId?: RawBytes;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: RawLong;
  endTimeUnixNano?: RawLong;
  attributes?: RawKeyValue[];
  events?: Array<{ name?: string; attributes?: RawKeyValue[] }>;
  status?: { code?: number | string; message?: string };
}
export interface RawNumberPoint {
  attributes?: RawKeyValue[];
  asDouble?: number | string;
  asInt?: RawLong;
}
export interface RawCountPoint {
  attributes?: RawKeyValue[];
  count?: RawLong;
  sum?: number | string;
}
export interface RawMetric {
  name?: string;
  unit?: string;
  gauge?: { dataPoints?: RawNumberPoint[] };
  sum?: { dataPoints?: RawNumberPoint[] };
  histogram?: { dataPoints?: RawCountPoint[] };
  exponentialHistogram?: { dataPoints?: RawCountPoint[] };
  summary?: { dataPoints?: RawCountPoint[] };
}
export interface RawLogRecord {
  severityText?: string;
  severityNumber?: number | string;
  body?: RawAnyValue;
  attributes?: RawKeyValue[];
  traceId?: RawBytes;
  spanId?: RawBytes;
}
export interface RawTraceRequest {
  resourceSpans?: Array<{
    resource?: RawResource;
    scopeSpans?: Array<{ scope?: RawScope; spans?: RawSpan[] }>;
  }>;
}
export interface RawMetricsRequest {
  resourceMetrics?: Array<{
    resource?: RawResource;
    scopeMetrics?: Array<{ scope?: RawScope; metrics?: RawMetric[] }>;
  }>;
}
export interface RawLogsRequest {
  resourceLogs?: Array<{
    resource?: RawResource;
    scopeLogs?: Array<{ scope?: RawScope; logRecords?: RawLogRecord[] }>;
  }>;
}

// ------------------------------------------------------------ conversion

export function hexId(v: RawBytes | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v.toLowerCase();
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
}

export function toNumber(v: RawLong | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? v : Number(v);
}

export function toNanos(v: RawLong | undefined): string {
  if (v === undefined) return '0';
  if (typeof v === 'number') return BigInt(Math.trunc(v)).toString();
  return v;
}

export function toEnum(
  v: number | string | undefined,
  values: Readonly<Record<string, number>>
): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  return values[v] ?? (Number(v) || 0);
}

export function anyValue(v: RawAnyValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return toNumber(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) {
    return (v.arrayValue.values ?? []).map(anyValue);
  }
  if (v.kvlistValue !== undefined) return attrs(v.kvlistValue.values);
  if (v.bytesValue !== undefined) {
    return typeof v.bytesValue === 'string'
      ? new Uint8Array(Buffer.from(v.bytesValue, 'base64'))
      : new Uint8Array(v.bytesValue);
  }
  return undefined;
}

export function attrs(
  list: RawKeyValue[] | undefined
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) {
    if (kv.key !== undefined) out[kv.key] = anyValue(kv.value);
  }
  return out;
}
