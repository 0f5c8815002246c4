// Test-only OTLP receiver: an in-process gRPC + HTTP (protobuf/JSON) sink on
// 127.0.0.1 that decodes trace/metric/log exports into flat records, or, in
// black-hole mode, accepts TCP connections and never answers.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type {
  ServerUnaryCall,
  ServiceDefinition,
  sendUnaryData,
} from '@grpc/grpc-js';
import { createServer as createHttpServer } from 'node:http';
import type {
  IncomingMessage,
  Server as HttpServer,
  ServerResponse,
} from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { after, before } from 'node:test';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { OTLP_PACKAGE, OTLP_PROTO } from '../../src/otlp/schema.ts';
import type { Type } from 'protobufjs';

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

/** Options for {@link startOtlpSink}. */
export interface OtlpSinkOptions {
  /** Accept TCP connections on both ports but never answer anything. */
  blackHole?: boolean;
}

/** Options for {@link OtlpSink.waitFor}. */
export interface WaitForOptions {
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Description used in the timeout error message. */
  what?: string;
}

/** A running sink; see {@link startOtlpSink}. */
export interface OtlpSink {
  /** e.g. `http://127.0.0.1:PORT` (the gRPC exporters need the `http://`). */
  grpcEndpoint: string;
  /** e.g. `http://127.0.0.1:PORT`; append `/v1/traces` etc. */
  httpEndpoint: string;
  spans(): ReceivedSpan[];
  metrics(): ReceivedMetric[];
  logs(): ReceivedLog[];
  /** Live counters of decoded export requests (reset by clear()). */
  readonly requests: OtlpRequestCounts;
  /** Polls `predicate` every 25 ms; rejects with a summary on timeout. */
  waitFor(predicate: () => boolean, opts?: WaitForOptions): Promise<void>;
  /** Forgets everything received so far and resets the counters. */
  clear(): void;
  /** Closes both listeners and all connections; idempotent, bounded to ~2 s. */
  stop(): Promise<void>;
}

// ------------------------------------------------------------ proto schema

// The schema otel-launch ships for --local and doctor: one copy of the OTLP messages.
const PKG = OTLP_PACKAGE;

interface SignalCodec {
  request: Type;
  response: Type;
  grpcPath: string;
}

let codecs: Record<OtlpSignal, SignalCodec> | undefined;
let spanKindValues: Record<string, number> = {};
let statusCodeValues: Record<string, number> = {};
let severityValues: Record<string, number> = {};

function getCodecs(): Record<OtlpSignal, SignalCodec> {
  if (codecs) return codecs;
  const { root } = protobuf.parse(OTLP_PROTO, { keepCase: false });
  const t = (name: string): Type => root.lookupType(`${PKG}.${name}`);
  spanKindValues = root.lookupEnum(`${PKG}.Span.SpanKind`).values;
  statusCodeValues = root.lookupEnum(`${PKG}.Status.StatusCode`).values;
  severityValues = root.lookupEnum(`${PKG}.SeverityNumber`).values;
  const svc = (s: string, S: string): string =>
    `/opentelemetry.proto.collector.${s}.v1.${S}Service/Export`;
  codecs = {
    traces: {
      request: t('ExportTraceServiceRequest'),
      response: t('ExportTraceServiceResponse'),
      grpcPath: svc('trace', 'Trace'),
    },
    metrics: {
      request: t('ExportMetricsServiceRequest'),
      response: t('ExportMetricsServiceResponse'),
      grpcPath: svc('metrics', 'Metrics'),
    },
    logs: {
      request: t('ExportLogsServiceRequest'),
      response: t('ExportLogsServiceResponse'),
      grpcPath: svc('logs', 'Logs'),
    },
  };
  return codecs;
}

function decodeProtobuf(signal: OtlpSignal, bytes: Uint8Array): unknown {
  const type = getCodecs()[signal].request;
  return type.toObject(type.decode(bytes), {
    longs: String,
    enums: Number,
    defaults: false,
  });
}

function encodeEmptyResponse(signal: OtlpSignal): Buffer {
  const type = getCodecs()[signal].response;
  return Buffer.from(type.encode(type.create({})).finish());
}

// ------------------------------------------------- raw (decoded) shapes
// Both protobufjs `toObject` output and OTLP/JSON share these camelCase shapes;
// they differ in ids (bytes vs hex), int64s (string vs number|string), bytes
// values (Buffer vs base64) and possibly enums (number vs name).

type RawBytes = Uint8Array | string;
type RawLong = string | number;

interface RawAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: RawLong;
  doubleValue?: number | string;
  arrayValue?: { values?: RawAnyValue[] };
  kvlistValue?: { values?: RawKeyValue[] };
  bytesValue?: RawBytes;
}
interface RawKeyValue {
  key?: string;
  value?: RawAnyValue;
}
interface RawResource {
  attributes?: RawKeyValue[];
}
interface RawScope {
  name?: string;
}
interface RawSpan {
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
interface RawNumberPoint {
  attributes?: RawKeyValue[];
  asDouble?: number | string;
  asInt?: RawLong;
}
interface RawCountPoint {
  attributes?: RawKeyValue[];
  count?: RawLong;
  sum?: number | string;
}
interface RawMetric {
  name?: string;
  unit?: string;
  gauge?: { dataPoints?: RawNumberPoint[] };
  sum?: { dataPoints?: RawNumberPoint[] };
  histogram?: { dataPoints?: RawCountPoint[] };
  exponentialHistogram?: { dataPoints?: RawCountPoint[] };
  summary?: { dataPoints?: RawCountPoint[] };
}
interface RawLogRecord {
  severityText?: string;
  severityNumber?: number | string;
  body?: RawAnyValue;
  attributes?: RawKeyValue[];
  traceId?: RawBytes;
  spanId?: RawBytes;
}
interface RawTraceRequest {
  resourceSpans?: Array<{
    resource?: RawResource;
    scopeSpans?: Array<{ scope?: RawScope; spans?: RawSpan[] }>;
  }>;
}
interface RawMetricsRequest {
  resourceMetrics?: Array<{
    resource?: RawResource;
    scopeMetrics?: Array<{ scope?: RawScope; metrics?: RawMetric[] }>;
  }>;
}
interface RawLogsRequest {
  resourceLogs?: Array<{
    resource?: RawResource;
    scopeLogs?: Array<{ scope?: RawScope; logRecords?: RawLogRecord[] }>;
  }>;
}

// ------------------------------------------------------------ conversion

function hexId(v: RawBytes | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v.toLowerCase();
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
}

function toNumber(v: RawLong | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? v : Number(v);
}

function toNanos(v: RawLong | undefined): string {
  if (v === undefined) return '0';
  if (typeof v === 'number') return BigInt(Math.trunc(v)).toString();
  return v;
}

function toEnum(
  v: number | string | undefined,
  values: Record<string, number>
): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  return values[v] ?? (Number(v) || 0);
}

function anyValue(v: RawAnyValue | undefined): unknown {
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

function attrs(list: RawKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) {
    if (kv.key !== undefined) out[kv.key] = anyValue(kv.value);
  }
  return out;
}

/** Rewrites snake_case JSON keys (proto field names) to lowerCamelCase. */
function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    out[k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())] =
      camelKeys(val);
  }
  return out;
}

// ------------------------------------------------------------- the sink

interface Store {
  spans: ReceivedSpan[];
  metrics: ReceivedMetric[];
  logs: ReceivedLog[];
  requests: OtlpRequestCounts;
}

function ingest(
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
            kind: toEnum(s.kind, spanKindValues),
            traceId: hexId(s.traceId),
            spanId: hexId(s.spanId),
            parentSpanId: hexId(s.parentSpanId),
            attributes: attrs(s.attributes),
            startTimeUnixNano: toNanos(s.startTimeUnixNano),
            endTimeUnixNano: toNanos(s.endTimeUnixNano),
            status: {
              code: toEnum(s.status?.code, statusCodeValues),
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
            severityNumber: toEnum(r.severityNumber, severityValues),
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

function summarize(store: Store): string {
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

const SIGNAL_BY_PATH: Record<string, OtlpSignal> = {
  '/v1/traces': 'traces',
  '/v1/metrics': 'metrics',
  '/v1/logs': 'logs',
};

function handleHttp(
  store: Store,
  req: IncomingMessage,
  res: ServerResponse
): void {
  const reply = (
    status: number,
    type?: string,
    body?: string | Buffer
  ): void => {
    if (type) res.setHeader('content-type', type);
    res.statusCode = status;
    res.end(body ?? '');
  };
  const signal = SIGNAL_BY_PATH[(req.url ?? '').split('?')[0] ?? ''];
  if (req.method !== 'POST' || !signal) {
    req.resume();
    reply(404, 'text/plain', 'not found');
    return;
  }
  const type = (req.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim()
    .toLowerCase();
  const encoding = (req.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (
    (type !== 'application/x-protobuf' && type !== 'application/json') ||
    (encoding !== 'gzip' && encoding !== 'identity')
  ) {
    req.resume();
    reply(415, 'text/plain', 'unsupported media type');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('error', () => res.destroy());
  req.on('end', () => {
    let raw: unknown;
    try {
      let body = Buffer.concat(chunks);
      if (encoding === 'gzip') body = gunzipSync(body);
      raw =
        type === 'application/json'
          ? camelKeys(JSON.parse(body.toString('utf8')) as unknown)
          : decodeProtobuf(signal, body);
    } catch (err) {
      reply(400, 'text/plain', `cannot decode: ${String(err)}`);
      return;
    }
    if (encoding === 'gzip') store.requests.gzip += 1;
    ingest(
      store,
      signal,
      raw,
      type === 'application/json' ? 'http/json' : 'http/protobuf'
    );
    if (type === 'application/json') reply(200, type, '{}');
    else reply(200, type, encodeEmptyResponse(signal));
  });
}

function listen(server: NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('unexpected server address'));
      } else {
        resolve(addr.port);
      }
    });
  });
}

function trackSockets(server: NetServer, sockets: Set<Socket>): void {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
}

function blackHoleServer(sockets: Set<Socket>): NetServer {
  const server = createNetServer();
  trackSockets(server, sockets);
  // Drain whatever the client sends so it never blocks, but never reply.
  server.on('connection', (socket: Socket) => socket.resume());
  return server;
}

function startGrpc(store: Store): Promise<{ server: Server; port: number }> {
  const all = getCodecs();
  const server = new Server();
  for (const signal of ['traces', 'metrics', 'logs'] as const) {
    const codec = all[signal];
    const definition: ServiceDefinition = {
      Export: {
        path: codec.grpcPath,
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Uint8Array): Buffer => Buffer.from(v),
        requestDeserialize: (b: Buffer): unknown => decodeProtobuf(signal, b),
        responseSerialize: (): Buffer => encodeEmptyResponse(signal),
        responseDeserialize: (b: Buffer): Buffer => b,
      },
    };
    server.addService(definition, {
      Export: (
        call: ServerUnaryCall<unknown, object>,
        callback: sendUnaryData<object>
      ) => {
        ingest(store, signal, call.request, 'grpc');
        callback(null, {});
      },
    });
  }
  return new Promise((resolve, reject) => {
    server.bindAsync(
      '127.0.0.1:0',
      ServerCredentials.createInsecure(),
      (err, port) => {
        if (err) {
          server.forceShutdown();
          reject(err);
        } else {
          resolve({ server, port });
        }
      }
    );
  });
}

function closeNet(server: NetServer, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  return new Promise(resolve => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/**
 * Starts an OTLP sink on 127.0.0.1 (random ports): a gRPC server for the
 * three collector services and an HTTP server for POST /v1/{traces,metrics,logs}
 * (protobuf or JSON, optionally gzip). With `blackHole: true` both ports
 * accept connections and never answer.
 */
export async function startOtlpSink(
  options: OtlpSinkOptions = {}
): Promise<OtlpSink> {
  const store: Store = {
    spans: [],
    metrics: [],
    logs: [],
    requests: { grpc: 0, http: 0, traces: 0, metrics: 0, logs: 0, gzip: 0 },
  };
  const sockets = new Set<Socket>();
  let grpcServer: Server | undefined;
  let grpcNet: NetServer | undefined;
  let httpServer: HttpServer | undefined;
  let httpNet: NetServer;
  let grpcPort: number;
  let httpPort: number;

  if (options.blackHole) {
    grpcNet = blackHoleServer(sockets);
    httpNet = blackHoleServer(sockets);
    try {
      grpcPort = await listen(grpcNet);
      httpPort = await listen(httpNet);
    } catch (err) {
      await closeNet(grpcNet, sockets);
      await closeNet(httpNet, sockets);
      throw err;
    }
  } else {
    const http = createHttpServer((req, res) => handleHttp(store, req, res));
    http.keepAliveTimeout = 1000;
    trackSockets(http, sockets);
    httpServer = http;
    httpNet = http;
    httpPort = await listen(http);
    try {
      ({ server: grpcServer, port: grpcPort } = await startGrpc(store));
    } catch (err) {
      await closeNet(http, sockets);
      throw err;
    }
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      grpcServer?.forceShutdown();
      const closing = Promise.all([
        closeNet(httpNet, sockets),
        grpcNet ? closeNet(grpcNet, sockets) : undefined,
      ]);
      httpServer?.closeAllConnections();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>(resolve => {
        timer = setTimeout(resolve, 1900);
        timer.unref();
      });
      await Promise.race([closing, deadline]);
      clearTimeout(timer);
    })();
    return stopping;
  };

  return {
    grpcEndpoint: `http://127.0.0.1:${grpcPort}`,
    httpEndpoint: `http://127.0.0.1:${httpPort}`,
    spans: () => [...store.spans],
    metrics: () => [...store.metrics],
    logs: () => [...store.logs],
    requests: store.requests,
    waitFor: (predicate, opts = {}) => {
      const timeoutMs = opts.timeoutMs ?? 5000;
      const what = opts.what ?? 'condition';
      const started = Date.now();
      return new Promise<void>((resolve, reject) => {
        const poll = (): void => {
          let ok: boolean;
          try {
            ok = predicate();
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          if (ok) {
            resolve();
          } else if (Date.now() - started >= timeoutMs) {
            reject(
              new Error(
                `timed out after ${timeoutMs} ms waiting for ${what}; ` +
                  summarize(store)
              )
            );
          } else {
            setTimeout(poll, 25);
          }
        };
        poll();
      });
    },
    clear: () => {
      store.spans.length = 0;
      store.metrics.length = 0;
      store.logs.length = 0;
      for (const k of Object.keys(store.requests)) {
        store.requests[k as keyof OtlpRequestCounts] = 0;
      }
    },
    stop,
  };
}

/** Groups records by their numeric `process.pid` resource attribute (others are skipped). */
export function byPid<T extends { resource: Record<string, unknown> }>(
  records: T[]
): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of records) {
    const raw = r.resource['process.pid'];
    const pid = typeof raw === 'string' ? Number(raw) : raw;
    if (typeof pid !== 'number' || !Number.isFinite(pid)) continue;
    const list = out.get(pid);
    if (list) list.push(r);
    else out.set(pid, [r]);
  }
  return out;
}

/** The set of distinct values of resource attribute `key` (records lacking it are skipped). */
export function resourceValues(
  records: Array<{ resource: Record<string, unknown> }>,
  key: string
): Set<unknown> {
  const out = new Set<unknown>();
  for (const r of records) {
    if (key in r.resource) out.add(r.resource[key]);
  }
  return out;
}

/**
 * Starts one sink for the calling test file (in `before`) and stops it (in `after`).
 * Returns an accessor, valid inside tests and hooks.
 */
export function useOtlpSink(options?: OtlpSinkOptions): () => OtlpSink {
  let sink: OtlpSink | undefined;
  before(async () => {
    sink = await startOtlpSink(options);
  });
  after(async () => {
    await sink?.stop();
  });
  return () => {
    if (!sink)
      throw new Error('useOtlpSink(): the sink is used before `before` ran');
    return sink;
  };
}
