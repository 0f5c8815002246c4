// Self-test of the test OTLP sink: drives the real OTLP exporters (gRPC,
// HTTP/protobuf, HTTP/JSON, with and without gzip) against startOtlpSink() and
// checks the decoded records, plus black-hole mode, HTTP errors and waitFor.
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, ValueType, trace } from '@opentelemetry/api';
import type { Attributes } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import {
  LoggerProvider,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import {
  TracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { byPid, resourceValues, startOtlpSink } from '../helpers/otlp-sink.ts';
import type { OtlpSink, OtlpTransport } from '../helpers/otlp-sink.ts';

// The exporters type `compression` as an enum of otlp-exporter-base (not a
// direct dependency); derive the type instead of importing it.
type Compression = NonNullable<
  NonNullable<ConstructorParameters<typeof GrpcTraceExporter>[0]>['compression']
>;

const LOG_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const LOG_SPAN_ID = 'b7ad6b7169203331';

interface Exporters {
  spans: SpanExporter;
  metrics: PushMetricExporter;
  logs: LogRecordExporter;
}

function makeExporters(
  transport: OtlpTransport,
  sink: OtlpSink,
  gzip: boolean
): Exporters {
  const compression = (gzip ? 'gzip' : 'none') as Compression;
  if (transport === 'grpc') {
    const config = { url: sink.grpcEndpoint, compression };
    return {
      spans: new GrpcTraceExporter(config),
      metrics: new GrpcMetricExporter(config),
      logs: new GrpcLogExporter(config),
    };
  }
  const url = (signal: string): { url: string; compression: Compression } => ({
    url: `${sink.httpEndpoint}/v1/${signal}`,
    compression,
  });
  if (transport === 'http/protobuf') {
    return {
      spans: new ProtoTraceExporter(url('traces')),
      metrics: new ProtoMetricExporter(url('metrics')),
      logs: new ProtoLogExporter(url('logs')),
    };
  }
  return {
    spans: new JsonTraceExporter(url('traces')),
    metrics: new JsonMetricExporter(url('metrics')),
    logs: new JsonLogExporter(url('logs')),
  };
}

function expectedResource(instance: string): Attributes {
  return {
    'service.name': 'otlp-sink-selftest',
    'service.instance.id': instance,
    'process.pid': process.pid,
    'selftest.int': 7,
    'selftest.double': 0.5,
    'selftest.bool': true,
    'selftest.array': ['x', 'y'],
  };
}

interface Emitted {
  traceId: string;
  parentSpanId: string;
  childSpanId: string;
  /** Shuts the providers down (metrics export once more on shutdown). */
  shutdown(): Promise<void>;
}

/** Emits 2 spans, 2 metrics (after one forceFlush) and 2 log records. */
async function emitAll(resource: Resource, exp: Exporters): Promise<Emitted> {
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor({ exporter: exp.spans })],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: exp.metrics,
        exportIntervalMillis: 60_000,
      }),
    ],
  });
  // sdk-logs 0.223: SimpleLogRecordProcessor takes `{ exporter }`, not the
  // exporter itself (passing it positionally silently drops every record).
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new SimpleLogRecordProcessor({ exporter: exp.logs })],
  });
  const shutdown = async (): Promise<void> => {
    await Promise.all([
      tracerProvider.shutdown(),
      meterProvider.shutdown(),
      loggerProvider.shutdown(),
    ]);
  };

  try {
    const tracer = tracerProvider.getTracer('selftest-tracer');
    const parent = tracer.startSpan('parent', { kind: SpanKind.SERVER });
    const child = tracer.startSpan(
      'child',
      {
        attributes: {
          'attr.int': 42,
          'attr.double': 2.5,
          'attr.bool': false,
          'attr.str': 'hello',
          'attr.array': ['a', 'b'],
          'attr.int_array': [1, 2, 3],
        },
      },
      trace.setSpan(ROOT_CONTEXT, parent)
    );
    child.addEvent('evt', { 'evt.n': 1 });
    child.end();
    parent.end();
    await tracerProvider.forceFlush();

    const meter = meterProvider.getMeter('selftest-meter');
    const counter = meter.createCounter('selftest.requests', {
      valueType: ValueType.INT,
    });
    counter.add(3, { route: '/a' });
    counter.add(4, { route: '/a' });
    const histogram = meter.createHistogram('selftest.latency', { unit: 'ms' });
    for (const v of [10, 20, 30]) histogram.record(v);
    await meterProvider.forceFlush();

    const logger = loggerProvider.getLogger('selftest-logger');
    logger.emit({
      body: 'hello sink',
      severityText: 'WARN',
      severityNumber: SeverityNumber.WARN,
      attributes: { 'log.int': 5 },
      context: trace.setSpanContext(ROOT_CONTEXT, {
        traceId: LOG_TRACE_ID,
        spanId: LOG_SPAN_ID,
        traceFlags: 1,
      }),
    });
    logger.emit({
      body: { msg: 'structured', n: 7, nested: { ok: true }, list: ['x', 1] },
      severityText: 'INFO',
      severityNumber: SeverityNumber.INFO,
    });
    await loggerProvider.forceFlush();

    return {
      traceId: parent.spanContext().traceId,
      parentSpanId: parent.spanContext().spanId,
      childSpanId: child.spanContext().spanId,
      shutdown,
    };
  } catch (err) {
    await shutdown();
    throw err;
  }
}

function assertScenario(
  sink: OtlpSink,
  transport: OtlpTransport,
  gzip: boolean,
  emitted: Emitted,
  instance: string
): void {
  const resource = expectedResource(instance);

  // Requests: SimpleSpanProcessor / SimpleLogRecordProcessor export one
  // record per call; the metric reader exports once per forceFlush.
  const total = 2 + 1 + 2;
  assert.deepEqual(
    { ...sink.requests },
    {
      grpc: transport === 'grpc' ? total : 0,
      http: transport === 'grpc' ? 0 : total,
      traces: 2,
      metrics: 1,
      logs: 2,
      gzip: gzip && transport !== 'grpc' ? total : 0,
    }
  );

  // Spans.
  const spans = sink.spans();
  assert.equal(spans.length, 2);
  const parent = spans.find(s => s.name === 'parent');
  const child = spans.find(s => s.name === 'child');
  assert.ok(parent && child);
  for (const s of spans) {
    assert.deepEqual(s.resource, resource);
    assert.equal(s.scope, 'selftest-tracer');
    assert.equal(s.transport, transport);
    assert.equal(s.traceId, emitted.traceId);
    assert.match(s.traceId, /^[0-9a-f]{32}$/);
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.match(s.startTimeUnixNano, /^[1-9]\d{18}$/);
    assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
  }
  assert.equal(parent.spanId, emitted.parentSpanId);
  assert.equal(parent.parentSpanId, '');
  assert.equal(parent.kind, 2); // SPAN_KIND_SERVER
  assert.deepEqual(parent.attributes, {});
  assert.equal(child.spanId, emitted.childSpanId);
  assert.equal(child.parentSpanId, emitted.parentSpanId);
  assert.equal(child.kind, 1); // SPAN_KIND_INTERNAL
  assert.deepEqual(child.attributes, {
    'attr.int': 42,
    'attr.double': 2.5,
    'attr.bool': false,
    'attr.str': 'hello',
    'attr.array': ['a', 'b'],
    'attr.int_array': [1, 2, 3],
  });
  assert.equal(typeof child.attributes['attr.int'], 'number');
  assert.deepEqual(child.events, [{ name: 'evt', attributes: { 'evt.n': 1 } }]);
  assert.deepEqual(child.status, { code: 0, message: '' });

  // Metrics.
  const metrics = sink.metrics();
  assert.deepEqual(
    metrics.map(m => [m.name, m.type, m.scope, m.transport]).sort(),
    [
      ['selftest.latency', 'histogram', 'selftest-meter', transport],
      ['selftest.requests', 'sum', 'selftest-meter', transport],
    ]
  );
  for (const m of metrics) assert.deepEqual(m.resource, resource);
  const counter = metrics.find(m => m.name === 'selftest.requests');
  assert.deepEqual(counter?.points, [
    { attributes: { route: '/a' }, value: 7 },
  ]);
  const histogram = metrics.find(m => m.name === 'selftest.latency');
  assert.ok(histogram);
  assert.equal(histogram.unit, 'ms');
  assert.deepEqual(histogram.points, [{ attributes: {}, count: 3, sum: 60 }]);

  // Logs (SimpleLogRecordProcessor keeps emit order per exporter call, but
  // the exports are concurrent: look them up by severity).
  const logs = sink.logs();
  assert.equal(logs.length, 2);
  const warn = logs.find(l => l.severityText === 'WARN');
  const info = logs.find(l => l.severityText === 'INFO');
  assert.ok(warn && info);
  for (const l of logs) {
    assert.deepEqual(l.resource, resource);
    assert.equal(l.scope, 'selftest-logger');
    assert.equal(l.transport, transport);
  }
  assert.equal(warn.body, 'hello sink');
  assert.equal(warn.severityNumber, 13);
  assert.deepEqual(warn.attributes, { 'log.int': 5 });
  assert.equal(warn.traceId, LOG_TRACE_ID);
  assert.equal(warn.spanId, LOG_SPAN_ID);
  assert.deepEqual(info.body, {
    msg: 'structured',
    n: 7,
    nested: { ok: true },
    list: ['x', 1],
  });
  assert.equal(info.severityNumber, 9);
  assert.equal(info.traceId, '');
  assert.equal(info.spanId, '');

  // Helpers.
  const all = [...spans, ...metrics, ...logs];
  const grouped = byPid(all);
  assert.deepEqual([...grouped.keys()], [process.pid]);
  assert.equal(grouped.get(process.pid)?.length, 6);
  assert.deepEqual(
    resourceValues(all, 'service.instance.id'),
    new Set([instance])
  );
  assert.deepEqual(resourceValues(all, 'no.such.key'), new Set());
}

/** Exports `spans` once and reports the result code and elapsed time. */
function exportOnce(
  exporter: SpanExporter,
  spans: ReadableSpan[]
): Promise<{ result: ExportResult; ms: number }> {
  const started = Date.now();
  return new Promise(resolve => {
    exporter.export(spans, result =>
      resolve({ result, ms: Date.now() - started })
    );
  });
}

function finishedSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
  });
  provider.getTracer('black-hole').startSpan('lost').end();
  return memory.getFinishedSpans();
}

const CASES: Array<{ transport: OtlpTransport; gzip: boolean }> = [
  { transport: 'grpc', gzip: false },
  { transport: 'grpc', gzip: true },
  { transport: 'http/protobuf', gzip: false },
  { transport: 'http/protobuf', gzip: true },
  { transport: 'http/json', gzip: false },
  { transport: 'http/json', gzip: true },
];

void describe('otlp-sink with the real OTLP exporters', () => {
  let sink: OtlpSink;
  before(async () => {
    sink = await startOtlpSink();
  });
  after(async () => {
    await sink.stop();
  });
  beforeEach(() => sink.clear());

  for (const { transport, gzip } of CASES) {
    const label = `${transport}${gzip ? ' + gzip' : ''}`;
    void test(
      `decodes traces, metrics and logs over ${label}`,
      {
        timeout: 15_000,
      },
      async () => {
        const instance = `inst-${label}`;
        const resource = resourceFromAttributes(expectedResource(instance));
        const emitted = await emitAll(
          resource,
          makeExporters(transport, sink, gzip)
        );
        try {
          await sink.waitFor(
            () =>
              sink.spans().length >= 2 &&
              sink.metrics().length >= 2 &&
              sink.logs().length >= 2,
            { timeoutMs: 5000, what: `all signals over ${label}` }
          );
          assertScenario(sink, transport, gzip, emitted, instance);
        } finally {
          await emitted.shutdown();
        }
      }
    );
  }

  void test(
    'grpc gzip is really on the wire and decoded by grpc-js',
    {
      timeout: 10_000,
    },
    async () => {
      // Byte-counting TCP proxy in front of the gRPC port: grpc-js strips the
      // grpc-encoding header before handlers see metadata, so measure instead.
      let clientBytes = 0;
      const upstreamPort = Number(new URL(sink.grpcEndpoint).port);
      const proxy = createNetServer(client => {
        const upstream = connect(upstreamPort, '127.0.0.1');
        client.on('data', (d: Buffer) => {
          clientBytes += d.length;
        });
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>(resolve =>
        proxy.listen(0, '127.0.0.1', () => resolve())
      );
      const address = proxy.address();
      assert.ok(address && typeof address === 'object');
      const memory = new InMemorySpanExporter();
      const provider = new TracerProvider({
        spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
      });
      provider
        .getTracer('gzip')
        .startSpan('big', { attributes: { blob: 'a'.repeat(100_000) } })
        .end();
      const sent: Record<string, number> = {};
      try {
        for (const compression of ['none', 'gzip'] as const) {
          clientBytes = 0;
          const exporter = new GrpcTraceExporter({
            url: `http://127.0.0.1:${address.port}`,
            compression: compression as Compression,
          });
          try {
            const { result } = await exportOnce(
              exporter,
              memory.getFinishedSpans()
            );
            assert.equal(result.code, ExportResultCode.SUCCESS);
          } finally {
            await exporter.shutdown();
          }
          sent[compression] = clientBytes;
        }
      } finally {
        proxy.close();
      }
      assert.ok((sent.none ?? 0) > 100_000, JSON.stringify(sent));
      assert.ok((sent.gzip ?? Infinity) < 10_000, JSON.stringify(sent));
      const spans = sink.spans();
      assert.equal(spans.length, 2);
      for (const s of spans)
        assert.equal(s.attributes.blob, 'a'.repeat(100_000));
    }
  );

  void test(
    'grpc exporter url without http:// is treated as TLS and fails',
    {
      timeout: 10_000,
    },
    async () => {
      const exporter = new GrpcTraceExporter({
        url: sink.grpcEndpoint.replace(/^http:\/\//, ''),
        timeoutMillis: 1000,
      });
      try {
        const { result } = await exportOnce(exporter, finishedSpans());
        assert.equal(result.code, ExportResultCode.FAILED);
        assert.equal(sink.requests.grpc, 0);
      } finally {
        await exporter.shutdown();
      }
    }
  );
});

void describe('otlp-sink HTTP edge cases', () => {
  let sink: OtlpSink;
  before(async () => {
    sink = await startOtlpSink();
  });
  after(async () => {
    await sink.stop();
  });
  beforeEach(() => sink.clear());

  const post = (
    path: string,
    type: string,
    body: string | Uint8Array,
    extra: Record<string, string> = {}
  ): Promise<Response> =>
    fetch(`${sink.httpEndpoint}${path}`, {
      method: 'POST',
      headers: { 'content-type': type, ...extra },
      body,
      signal: AbortSignal.timeout(3000),
    });

  void test(
    'rejects wrong method, path, content type and encoding',
    {
      timeout: 10_000,
    },
    async () => {
      const get = await fetch(`${sink.httpEndpoint}/v1/traces`, {
        signal: AbortSignal.timeout(3000),
      });
      assert.equal(get.status, 404);
      await get.arrayBuffer();
      const cases: Array<[Promise<Response>, number]> = [
        [post('/v1/nope', 'application/json', '{}'), 404],
        [post('/v1/traces', 'text/plain', '{}'), 415],
        [
          post('/v1/traces', 'application/json', '{}', {
            'content-encoding': 'br',
          }),
          415,
        ],
        [post('/v1/traces', 'application/json', '{not json'), 400],
        [
          post(
            '/v1/logs',
            'application/x-protobuf',
            new Uint8Array([0xff, 0xff])
          ),
          400,
        ],
      ];
      for (const [pending, status] of cases) {
        const res = await pending;
        assert.equal(res.status, status);
        await res.arrayBuffer();
      }
      assert.equal(sink.requests.http, 0);
    }
  );

  void test(
    'answers 200 with an empty body of the request content type',
    {
      timeout: 10_000,
    },
    async () => {
      const json = await post('/v1/metrics', 'application/json', '{}');
      assert.equal(json.status, 200);
      assert.equal(json.headers.get('content-type'), 'application/json');
      assert.equal(await json.text(), '{}');
      const proto = await post(
        '/v1/metrics',
        'application/x-protobuf',
        new Uint8Array()
      );
      assert.equal(proto.status, 200);
      assert.equal(proto.headers.get('content-type'), 'application/x-protobuf');
      assert.equal((await proto.arrayBuffer()).byteLength, 0);
      assert.equal(sink.requests.metrics, 2);
    }
  );

  void test(
    'accepts hand-written OTLP/JSON: snake_case keys, string int64s, enum names, upper-case hex',
    {
      timeout: 10_000,
    },
    async () => {
      const body = JSON.stringify({
        resource_spans: [
          {
            resource: {
              attributes: [
                { key: 'process.pid', value: { intValue: '123' } },
                { key: 'big', value: { int_value: '9007199254740993' } },
                { key: 'raw', value: { bytesValue: 'AQID' } },
                {
                  key: 'kv',
                  value: {
                    kvlistValue: {
                      values: [{ key: 'a', value: { doubleValue: 'NaN' } }],
                    },
                  },
                },
              ],
            },
            scope_spans: [
              {
                scope: { name: 'manual' },
                spans: [
                  {
                    trace_id: '0AF7651916CD43DD8448EB211C80319C',
                    spanId: 'B7AD6B7169203331',
                    name: 'manual-span',
                    kind: 'SPAN_KIND_CLIENT',
                    startTimeUnixNano: 1700000000000000000,
                    status: { code: 'STATUS_CODE_ERROR', message: 'boom' },
                  },
                ],
              },
            ],
          },
        ],
      });
      const res = await post(
        '/v1/traces',
        'application/json; charset=utf-8',
        body
      );
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const [span, ...rest] = sink.spans();
      assert.equal(rest.length, 0);
      assert.ok(span);
      assert.equal(span.transport, 'http/json');
      assert.equal(span.traceId, LOG_TRACE_ID);
      assert.equal(span.spanId, LOG_SPAN_ID);
      assert.equal(span.parentSpanId, '');
      assert.equal(span.kind, 3);
      assert.equal(span.startTimeUnixNano, '1700000000000000000');
      assert.deepEqual(span.status, { code: 2, message: 'boom' });
      assert.equal(span.resource['process.pid'], 123);
      assert.equal(span.resource.big, 9007199254740992); // precision loss: int64 → number
      assert.deepEqual(span.resource.raw, new Uint8Array([1, 2, 3]));
      assert.deepEqual(span.resource.kv, { a: NaN });
      assert.deepEqual([...byPid(sink.spans()).keys()], [123]);
    }
  );
});

void describe('otlp-sink black hole', () => {
  let sink: OtlpSink;
  before(async () => {
    sink = await startOtlpSink({ blackHole: true });
  });
  after(async () => {
    await sink.stop();
  });

  void test(
    'grpc exporter with timeoutMillis 500 fails within 3 s',
    {
      timeout: 10_000,
    },
    async () => {
      const exporter = new GrpcTraceExporter({
        url: sink.grpcEndpoint,
        timeoutMillis: 500,
      });
      try {
        const { result, ms } = await exportOnce(exporter, finishedSpans());
        assert.equal(result.code, ExportResultCode.FAILED);
        assert.ok(ms < 3000, `export took ${ms} ms`);
      } finally {
        await exporter.shutdown();
      }
    }
  );

  void test(
    'http/protobuf exporter with timeoutMillis 500 fails within 3 s',
    {
      timeout: 10_000,
    },
    async () => {
      const exporter = new ProtoTraceExporter({
        url: `${sink.httpEndpoint}/v1/traces`,
        timeoutMillis: 500,
      });
      try {
        const { result, ms } = await exportOnce(exporter, finishedSpans());
        assert.equal(result.code, ExportResultCode.FAILED);
        assert.ok(ms < 3000, `export took ${ms} ms`);
      } finally {
        await exporter.shutdown();
      }
    }
  );

  void test(
    'stop() returns promptly with connections held open, and is idempotent',
    {
      timeout: 10_000,
    },
    async () => {
      const exporter = new GrpcTraceExporter({
        url: sink.grpcEndpoint,
        timeoutMillis: 5000,
      });
      try {
        const pending = exportOnce(exporter, finishedSpans());
        await new Promise(resolve => setTimeout(resolve, 100));
        const started = Date.now();
        await sink.stop();
        await sink.stop();
        assert.ok(Date.now() - started < 1000, 'stop() took too long');
        const { result } = await pending;
        assert.equal(result.code, ExportResultCode.FAILED);
      } finally {
        await exporter.shutdown();
      }
    }
  );
});

void describe('otlp-sink waitFor', () => {
  let sink: OtlpSink;
  before(async () => {
    sink = await startOtlpSink();
  });
  after(async () => {
    await sink.stop();
  });

  void test(
    'resolves once the predicate holds',
    { timeout: 5000 },
    async () => {
      let ready = false;
      setTimeout(() => {
        ready = true;
      }, 60);
      await sink.waitFor(() => ready, { timeoutMs: 2000, what: 'flag' });
    }
  );

  void test(
    'rejects naming `what` and summarizing what arrived',
    {
      timeout: 5000,
    },
    async () => {
      const exporter = new JsonTraceExporter({
        url: `${sink.httpEndpoint}/v1/traces`,
      });
      const provider = new TracerProvider({
        resource: resourceFromAttributes({ 'process.pid': process.pid }),
        spanProcessors: [new SimpleSpanProcessor({ exporter: exporter })],
      });
      try {
        provider.getTracer('t').startSpan('one').end();
        await provider.forceFlush();
      } finally {
        await provider.shutdown();
      }
      const started = Date.now();
      await assert.rejects(
        sink.waitFor(() => sink.spans().length > 5, {
          timeoutMs: 150,
          what: 'six spans from nowhere',
        }),
        (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, /six spans from nowhere/);
          assert.match(err.message, /spans=1 metrics=0 logs=0/);
          assert.ok(err.message.includes(`${process.pid}: 1/0/0`), err.message);
          return true;
        }
      );
      assert.ok(Date.now() - started < 1000);
    }
  );
});
