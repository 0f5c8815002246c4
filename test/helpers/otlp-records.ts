// Test-only: the flat records the OTLP test sink keeps (spans, metrics, log records, with their
// resource and scope) and how a decoded export request becomes them. Loaded by otlp-sink.ts.
import {
  anyValue,
  attrs,
  enumValues,
  hexId,
  toEnum,
  toNanos,
  toNumber,
  type RawCountPoint,
  type RawLogsRequest,
  type RawMetric,
  type RawMetricsRequest,
  type RawNumberPoint,
  type RawTraceRequest,
} from './otlp-raw.ts';

/** Which wire protocol delivered a record. */
export type OtlpTransport = 'grpc' | 'http/protobuf' | 'http/json';

/** OTLP signal names, as used in the HTTP paths (/v1/<signal>). */
export type OtlpSignal = 'traces' | 'metrics' | 'logs';

/** One received span, flattened together with its resource and scope. */
export interface ReceivedSpan {
  resource: Record<string, unknown>;
  scope: string;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
  /** Decimal string of nanoseconds since the epoch ('0' if absent). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: number; message: string };
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  transport: OtlpTransport;
}

/** Metric data kinds (the `data` oneof of an OTLP Metric). */
export type ReceivedMetricType =
  'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';

/** One data point: `value` for gauge/sum, `count` (and `sum`) for the others. */
export interface ReceivedPoint {
  attributes: Record<string, unknown>;
  value?: number;
  count?: number;
  sum?: number;
}

/** One received metric (per metric, per resource/scope, per export). */
export interface ReceivedMetric {
  resource: Record<string, unknown>;
  scope: string;
  name: string;
  unit: string;
  type: ReceivedMetricType;
  points: ReceivedPoint[];
  transport: OtlpTransport;
}

/** One received log record, flattened together with its resource and scope. */
export interface ReceivedLog {
  resource: Record<string, unknown>;
  scope: string;
  body: unknown;
  severityText: string;
  severityNumber: number;
  attributes: Record<string, unknown>;
  /** Lowercase hex, '' if the record carries no span context. */
  traceId: string;
  spanId: string;
  transport: OtlpTransport;
}

/** Export-call counters; `gzip` counts HTTP requests with content-encoding gzip. */
export interface OtlpRequestCounts {
  grpc: number;
  http: number;
  traces: number;
  metrics: number;
  logs: number;
  gzip: number;
}

/** What a sink has received. */
export interface Store {
  spans: ReceivedSpan[];
  metrics: ReceivedMetric[];
  logs: ReceivedLog[];
  requests: OtlpRequestCounts;
}

/** Flattens one decoded export request into the store and counts it. */
export function ingest(
  store: Store,
  signal: OtlpSignal,
  raw: unknown,
  transport: OtlpTransport
): void {
  if (signal === 'traces') {
    for (const rs of (raw as RawTraceRequest).resourceSpans ?? []) {
      const resource = attrs(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        const scope = ss.scope?.name ?? '';
        for (const s of ss.spans ?? []) {
          store.spans.push({
            resource,
            scope,
            name: s.name ?? '',
            kind: toEnum(s.kind, enumValues().spanKind),
            traceId: hexId(s.traceId),
            spanId: hexId(s.spanId),
            parentSpanId: hexId(s.parentSpanId),
            attributes: attrs(s.attributes),
            startTimeUnixNano: toNanos(s.startTimeUnixNano),
            endTimeUnixNano: toNanos(s.endTimeUnixNano),
            status: {
              code: toEnum(s.status?.code, enumValues().statusCode),
              message: s.status?.message ?? '',
            },
            events: (s.events ?? []).map(e => ({
              name: e.name ?? '',
              attributes: attrs(e.attributes),
            })),
            transport,
          });
        }
      }
    }
  } else if (signal === 'metrics') {
    for (const rm of (raw as RawMetricsRequest).resourceMetrics ?? []) {
      const resource = attrs(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        const scope = sm.scope?.name ?? '';
        for (const m of sm.metrics ?? []) {
          const converted = convertMetricData(m);
          if (!converted) continue;
          store.metrics.push({
            resource,
            scope,
            name: m.name ?? '',
            unit: m.unit ?? '',
            ...converted,
            transport,
          });
        }
      }
    }
  } else {
    for (const rl of (raw as RawLogsRequest).resourceLogs ?? []) {
      const resource = attrs(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        const scope = sl.scope?.name ?? '';
        for (const r of sl.logRecords ?? []) {
          store.logs.push({
            resource,
            scope,
            body: anyValue(r.body),
            severityText: r.severityText ?? '',
            severityNumber: toEnum(r.severityNumber, enumValues().severity),
            attributes: attrs(r.attributes),
            traceId: hexId(r.traceId),
            spanId: hexId(r.spanId),
            transport,
          });
        }
      }
    }
  }
  store.requests[signal] += 1;
  store.requests[transport === 'grpc' ? 'grpc' : 'http'] += 1;
}

function convertMetricData(
  m: RawMetric
): { type: ReceivedMetricType; points: ReceivedPoint[] } | undefined {
  const numberPoints = (pts: RawNumberPoint[] | undefined): ReceivedPoint[] =>
    (pts ?? []).map(p => {
      const value =
        p.asDouble !== undefined ? Number(p.asDouble) : toNumber(p.asInt);
      const point: ReceivedPoint = { attributes: attrs(p.attributes) };
      if (value !== undefined) point.value = value;
      return point;
    });
  const countPoints = (pts: RawCountPoint[] | undefined): ReceivedPoint[] =>
    (pts ?? []).map(p => {
      const point: ReceivedPoint = {
        attributes: attrs(p.attributes),
        count: toNumber(p.count) ?? 0,
      };
      if (p.sum !== undefined) point.sum = Number(p.sum);
      return point;
    });
  if (m.gauge)
    return { type: 'gauge', points: numberPoints(m.gauge.dataPoints) };
  if (m.sum) return { type: 'sum', points: numberPoints(m.sum.dataPoints) };
  if (m.histogram) {
    return { type: 'histogram', points: countPoints(m.histogram.dataPoints) };
  }
  if (m.exponentialHistogram) {
    return {
      type: 'exponentialHistogram',
      points: countPoints(m.exponentialHistogram.dataPoints),
    };
  }
  if (m.summary) {
    return { type: 'summary', points: countPoints(m.summary.dataPoints) };
  }
  return undefined;
}

/** One line: what was received, by process.pid (for timeout messages). */
export function summarize(store: Store): string {
  const perPid = new Map<string, { s: number; m: number; l: number }>();
  const bump = (
    records: Array<{ resource: Record<string, unknown> }>,
    k: 's' | 'm' | 'l'
  ): void => {
    for (const r of records) {
      const raw = r.resource['process.pid'];
      const pid =
        typeof raw === 'number' || typeof raw === 'string' ? String(raw) : '?';
      const entry = perPid.get(pid) ?? { s: 0, m: 0, l: 0 };
      entry[k] += 1;
      perPid.set(pid, entry);
    }
  };
  bump(store.spans, 's');
  bump(store.metrics, 'm');
  bump(store.logs, 'l');
  const q = store.requests;
  const pids = [...perPid]
    .map(([pid, c]) => `${pid}: ${c.s}/${c.m}/${c.l}`)
    .join(', ');
  return (
    `received spans=${store.spans.length} metrics=${store.metrics.length} ` +
    `logs=${store.logs.length} (requests grpc=${q.grpc} http=${q.http}); ` +
    `by process.pid spans/metrics/logs: {${pids || 'none'}}`
  );
}
