// A process that may still fork records instead of instrumenting (src/instrumentation/lazy.ts,
// `record`): until it knows its role it loads no OpenTelemetry code, and once it turns out
// standalone what loaded meanwhile is instrumented after all. Real app shapes: express and http
// loaded and routes registered at the top, `request` taken out of node:http before the role is
// known, CommonJS and ES modules, node:cluster loaded or not.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { linkExpress5 } from '../helpers/express5.ts';
import { byPid, useOtlpSink, type OtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);

const EXPRESS5 = linkExpress5();
const sink = useOtlpSink();

interface Ready {
  port: number;
  pid: number;
  workers: number[];
  otelModules: number;
}

type Span = ReturnType<OtlpSink['spans']>[number];

async function serveAndCall(
  script: string,
  env: Record<string, string>
): Promise<{ ready: Ready; spans: (pid: number) => Span[] }> {
  const app = startNode(fixture(script), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ...env,
    },
  });
  try {
    const ready = JSON.parse(await app.waitForLine('READY')) as Ready;
    assert.equal(await hammer(ready.port, 3, '/users/7'), 3, describe(app));
    assert.equal(await hammer(ready.port, 2, '/api/orders/9'), 2);
    assert.equal(await hammer(ready.port, 2, '/call'), 2);
    app.send('stop');
    assert.equal((await app.exited).code, 0, describe(app));
    assert.equal(app.stderr, '', 'the app prints nothing more with us');
    return {
      ready,
      spans: pid => byPid(sink().spans()).get(pid) ?? [],
    };
  } finally {
    app.kill();
  }
}

function assertInstrumented(received: Span[], what: string): void {
  // An export retried after a timeout under load may deliver a batch twice: count spans once.
  const spans = [...new Map(received.map(s => [s.spanId, s])).values()];
  const routes = spans
    .filter(s => s.kind === 2)
    .map(s => s.attributes['http.route']);
  assert.equal(
    routes.filter(r => r === '/users/:id').length,
    5,
    `${what}: /users/:id on 3 requests and the 2 inner calls`
  );
  assert.equal(
    routes.filter(r => r === '/api/orders/:orderId').length,
    2,
    `${what}: http.route of a route on a router mounted before the role was known`
  );
  assert.ok(
    spans.some(
      s =>
        s.scope.includes('instrumentation-express') &&
        s.attributes['express.type'] === 'request_handler'
    ),
    `${what}: express spans for routes registered before the role was known`
  );
  // The outgoing call made with `request` taken from node:http at the top: a client span,
  // child of the /call server span.
  const calls = spans.filter(
    s => s.kind === 2 && s.attributes['http.route'] === '/call'
  );
  assert.equal(calls.length, 2, `${what}: the /call server spans`);
  for (const call of calls) {
    const client = spans.find(s => s.kind === 3 && s.traceId === call.traceId);
    assert.ok(client, `${what}: a client span in the trace of /call`);
  }
}

for (const [script, env, label] of [
  [
    'maybe-cluster-app.cjs',
    {},
    'CommonJS, node:cluster loaded, no fork (decided when it listens)',
  ],
  [
    'maybe-cluster-app.cjs',
    { CLUSTER: '0' },
    'CommonJS without node:cluster (decided when its main module ran)',
  ],
  [
    'maybe-cluster-app.mjs',
    {},
    'ES module, node:cluster imported, no fork (decided when it listens)',
  ],
  [
    'maybe-cluster-app.cjs',
    { EXPRESS_MODULE: EXPRESS5 },
    'express 5, CommonJS, node:cluster loaded, no fork',
  ],
] as const) {
  test(`standalone, ${label}: every route, express span and outgoing call is instrumented`, async () => {
    const { ready, spans } = await serveAndCall(script, env);
    await sink().waitFor(() => spans(ready.pid).length >= 14, {
      what: 'the standalone app’s spans',
      timeoutMs: 10000,
    });
    assertInstrumented(spans(ready.pid), label);
  });
}

for (const script of ['maybe-cluster-app.cjs', 'maybe-cluster-app.mjs']) {
  test(`primary (${script}): no OpenTelemetry code loaded; workers fully instrumented`, async () => {
    const { ready, spans } = await serveAndCall(script, { WORKERS: '2' });
    assert.equal(ready.otelModules, 0, 'OpenTelemetry files in the primary');
    await sink().waitFor(
      () =>
        ready.workers.some(pid =>
          spans(pid).some(s => s.attributes['http.route'] === '/call')
        ),
      { what: 'worker spans', timeoutMs: 10000 }
    );
    assert.equal(spans(ready.pid).length, 0, 'nothing from the primary');
    const all = ready.workers.flatMap(pid => spans(pid));
    assertInstrumented(all, 'workers');
  });
}

test('primary that forks after a second of asynchronous start-up: still no OpenTelemetry code', async () => {
  const { ready, spans } = await serveAndCall('maybe-cluster-app.cjs', {
    WORKERS: '2',
    FORK_AFTER_MS: '1200',
  });
  assert.equal(ready.otelModules, 0, 'OpenTelemetry files in the primary');
  await sink().waitFor(
    () => ready.workers.every(pid => spans(pid).length > 0),
    { what: 'spans from both workers', timeoutMs: 10000 }
  );
  assert.equal(spans(ready.pid).length, 0, 'nothing from the primary');
});

test('a script that calls out from its first lines (fetch, http.get) has both client spans', async () => {
  const target = createServer((_req, res) => res.end('ok'));
  await new Promise<void>(resolve => target.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
  const script = startNode(fixture('script-first-call.mjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: [url],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
  try {
    assert.equal((await script.exited).code, 0, describe(script));
    assert.equal(script.stdout.trim(), 'DONE');
    assert.equal(script.stderr, '');
    const clients = (): Span[] =>
      (byPid(sink().spans()).get(script.pid) ?? []).filter(s => s.kind === 3);
    await sink().waitFor(() => clients().length >= 2, {
      what: 'the two client spans',
      timeoutMs: 10000,
    });
    const scopes = clients()
      .map(s => s.scope)
      .sort();
    assert.equal(scopes.length, 2, scopes.join(', '));
    assert.ok(
      scopes.some(s => s.includes('undici')),
      scopes.join(', ')
    );
    assert.ok(
      scopes.some(s => s.includes('instrumentation-http')),
      scopes.join(', ')
    );
  } finally {
    script.kill();
    target.close();
  }
});
