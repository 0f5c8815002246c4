// Context through event emitters and bound callbacks in a real express app (the context
// manager of src/env-context.ts): listeners on the request and response run in the request's
// context, removed listeners never run, and express spans hang under the server span.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { useOtlpSink, type ReceivedSpan } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  startNode,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();
const REQUESTS = 3;

test('express app: listeners and bound callbacks run in the request context', async () => {
  const app = startNode(fixture('express-context-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
  try {
    const port = Number(await app.waitForLine('READY '));
    assert.equal(await hammer(port, REQUESTS, '/ctx'), REQUESTS);
    const named = (name: string): ReceivedSpan[] =>
      sink()
        .spans()
        .filter(s => s.name === name);
    await sink().waitFor(
      () =>
        ['on-finish', 'once-end', 'on-ping', 'bound-callback'].every(
          n => named(n).length === REQUESTS
        ),
      { what: `${REQUESTS} spans from each listener`, timeoutMs: 10000 }
    );
    app.send('stop');
    assert.equal((await app.exited).code, 0, describe(app));

    const spans = sink().spans();
    const servers = spans.filter(s => s.kind === 2);
    assert.equal(servers.length, REQUESTS, 'one server span per request');
    for (const server of servers) {
      const trace = spans.filter(s => s.traceId === server.traceId);
      const ids = new Set(trace.map(s => s.spanId));
      const one = (name: string): ReceivedSpan => {
        const found = trace.filter(s => s.name === name);
        assert.equal(
          found.length,
          1,
          `one ${name} span in trace ${server.traceId}`
        );
        return found[0]!;
      };
      // Listeners on the bound request and response run in the server span's context.
      assert.equal(one('on-finish').parentSpanId, server.spanId);
      assert.equal(one('once-end').parentSpanId, server.spanId);
      assert.equal(one('on-ping').parentSpanId, server.spanId);
      // The callback bound in the handler runs in the handler's context from a timer whose
      // own context has no span.
      assert.ok(ids.has(one('bound-callback').parentSpanId));
      const handler = one('request handler - /ctx');
      assert.ok(
        ids.has(handler.parentSpanId),
        'the express span is in the trace'
      );
      assert.equal(server.parentSpanId, '', 'the server span is the root');
    }
    assert.deepEqual(
      spans.filter(s => s.name.startsWith('removed')).map(s => s.name),
      [],
      'removed listeners never ran'
    );
    assert.deepEqual(unexpectedWarnings(app.stderr), []);
  } finally {
    app.kill();
  }
});
