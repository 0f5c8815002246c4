// In-process tests of src/deferred-providers.ts against the real SDK: meters and tracers taken
// before the SDK exists record into it once attached, and attach(undefined) silences them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import {
  MeterProvider,
  MetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from '../../src/instrumentation/early-providers.ts';

/** A pull reader: collect() on demand, no timers. */
class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function realMeterProvider(): { provider: MeterProvider; reader: TestReader } {
  const reader = new TestReader();
  return { provider: new MeterProvider({ readers: [reader] }), reader };
}

/** Every metric collected, by name. */
async function collect(reader: TestReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) out.set(metric.descriptor.name, metric);
  }
  return out;
}

/** The data points of one metric as [attributes, value] pairs. */
function points(metric: MetricData | undefined): Array<[Attributes, unknown]> {
  assert.ok(metric, 'metric was exported');
  return metric.dataPoints.map(p => [p.attributes, p.value]);
}

describe('DeferredMeterProvider', () => {
  test('a counter used before attach has its buffered value exported after', async () => {
    const deferred = new DeferredMeterProvider();
    const meter = deferred.getMeter('early', '1.2.3');
    const counter = meter.createCounter('early.counter');
    counter.add(3, { phase: 'load' });
    counter.add(4, { phase: 'load' });
    const histogram = meter.createHistogram('early.histogram');
    histogram.record(10);

    const { provider, reader } = realMeterProvider();
    deferred.attach(provider);
    counter.add(5, { phase: 'request' });
    histogram.record(30);

    const metrics = await collect(reader);
    const byPhase = new Map(
      points(metrics.get('early.counter')).map(([a, v]) => [a['phase'], v])
    );
    assert.deepEqual(
      byPhase,
      new Map([
        ['load', 7],
        ['request', 5],
      ])
    );
    const hist = points(metrics.get('early.histogram'));
    assert.equal(hist.length, 1);
    const summary = hist[0]?.[1] as { count: number; sum: number };
    assert.equal(summary.count, 2);
    assert.equal(summary.sum, 40);
    const { resourceMetrics } = await reader.collect();
    assert.ok(
      resourceMetrics.scopeMetrics.some(
        s => s.scope.name === 'early' && s.scope.version === '1.2.3'
      ),
      'the meter keeps its name and version'
    );
    await provider.shutdown();
  });

  test('instruments and meters created after attach go straight to the SDK', async () => {
    const deferred = new DeferredMeterProvider();
    const early = deferred.getMeter('early');
    const { provider, reader } = realMeterProvider();
    deferred.attach(provider);
    early.createUpDownCounter('late.updown').add(-2);
    deferred.getMeter('late').createCounter('late.counter').add(9);
    const metrics = await collect(reader);
    assert.deepEqual(points(metrics.get('late.updown')), [[{}, -2]]);
    assert.deepEqual(points(metrics.get('late.counter')), [[{}, 9]]);
    await provider.shutdown();
  });

  test('observable callbacks registered before attach are called after', async () => {
    const deferred = new DeferredMeterProvider();
    const meter = deferred.getMeter('early');
    let calls = 0;
    const gauge = meter.createObservableGauge('early.gauge');
    gauge.addCallback(result => {
      calls++;
      result.observe(42, { source: 'callback' });
    });
    const removed = (): void => assert.fail('a removed callback ran');
    gauge.addCallback(removed);
    gauge.removeCallback(removed);
    const batchCounter = meter.createObservableCounter('early.batch');
    meter.addBatchObservableCallback(
      result => result.observe(batchCounter, 7),
      [batchCounter]
    );
    assert.equal(calls, 0);

    const { provider, reader } = realMeterProvider();
    deferred.attach(provider);
    const metrics = await collect(reader);
    assert.equal(calls, 1);
    assert.deepEqual(points(metrics.get('early.gauge')), [
      [{ source: 'callback' }, 42],
    ]);
    assert.deepEqual(points(metrics.get('early.batch')), [[{}, 7]]);
    await provider.shutdown();
  });

  test('attach(undefined) makes every instrument a no-op for good', async () => {
    const deferred = new DeferredMeterProvider();
    const meter = deferred.getMeter('early');
    const counter = meter.createCounter('early.counter');
    counter.add(1);
    let calls = 0;
    meter.createObservableGauge('early.gauge').addCallback(result => {
      calls++;
      result.observe(1);
    });
    deferred.attach(undefined);

    counter.add(1);
    meter.createCounter('early.meter.after').add(1);
    const later = deferred.getMeter('later');
    later.createCounter('later.counter').add(1);
    later.createObservableGauge('later.gauge').addCallback(result => {
      calls++;
      result.observe(1);
    });
    // Even a real provider attached afterwards revives none of them.
    const { provider, reader } = realMeterProvider();
    deferred.attach(provider);
    counter.add(1);
    later.createHistogram('later.histogram').record(1);

    const metrics = await collect(reader);
    assert.deepEqual([...metrics.keys()], []);
    assert.equal(calls, 0);
    await provider.shutdown();
  });
});

function realTracerProvider(): {
  provider: TracerProvider;
  exporter: InMemorySpanExporter;
} {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  return { provider, exporter };
}

describe('DeferredTracerProvider', () => {
  test('getTracer alone does not settle; the first startSpan calls onFirstSpan once', async () => {
    const { provider, exporter } = realTracerProvider();
    let calls = 0;
    const deferred = new DeferredTracerProvider(() => {
      calls++;
      deferred.attach(provider);
    });
    const tracer = deferred.getTracer('early', '0.1.0');
    assert.equal(calls, 0);

    tracer.startSpan('first').end();
    assert.equal(calls, 1);
    tracer.startSpan('second').end();
    deferred.getTracer('late').startSpan('third').end();
    tracer.startActiveSpan('active', span => span.end());
    assert.equal(calls, 1);

    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(
      spans.map(s => s.name),
      ['first', 'second', 'third', 'active']
    );
    const first = spans[0];
    assert.equal(first?.instrumentationScope.name, 'early');
    assert.equal(first?.instrumentationScope.version, '0.1.0');
    assert.equal(spans[2]?.instrumentationScope.name, 'late');
    await provider.shutdown();
  });

  test('startActiveSpan as the first span settles, returns the callback value', async () => {
    const { provider, exporter } = realTracerProvider();
    let calls = 0;
    const deferred = new DeferredTracerProvider(() => {
      calls++;
      deferred.attach(provider);
    });
    const result = deferred
      .getTracer('early')
      .startActiveSpan('active-first', span => {
        assert.equal(span.isRecording(), true);
        span.end();
        return 'value';
      });
    assert.equal(result, 'value');
    assert.equal(calls, 1);
    await provider.forceFlush();
    assert.deepEqual(
      exporter.getFinishedSpans().map(s => s.name),
      ['active-first']
    );
    await provider.shutdown();
  });

  test('attach(undefined) makes every tracer a no-op, without calling onFirstSpan', () => {
    let calls = 0;
    const deferred = new DeferredTracerProvider(() => {
      calls++;
    });
    const tracer = deferred.getTracer('early');
    deferred.attach(undefined);
    const span = tracer.startSpan('dropped');
    assert.equal(span.isRecording(), false);
    span.end();
    assert.equal(
      deferred.getTracer('late').startSpan('x').isRecording(),
      false
    );
    assert.equal(calls, 0);
  });
});
