// An app that starts its own NodeSDK in a tracing.js, under the preload (README, "An app with
// its own SDK"): otel-forksafe keeps exporting, the app's SDK is not registered, every request
// is traced exactly once, and stderr holds at most one line, with no stack frame, saying so and
// naming the variable that chooses the other way. With that variable set, the app's own SDK
// exports alone and we say nothing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  startNode,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

const REQUESTS = 20;

const cases = [
  { name: 'ours keeps running', env: {}, ours: true },
  {
    name: 'ours keeps running, OTEL_LOG_LEVEL=warn (NodeSDK then installs a console logger)',
    env: { OTEL_LOG_LEVEL: 'warn' },
    ours: true,
  },
  {
    name: 'OTEL_FORKSAFE_EXCLUDE names the app: its own SDK runs alone',
    env: { OTEL_FORKSAFE_EXCLUDE: 'own-sdk-app' },
    ours: false,
  },
];

for (const c of cases) {
  test(`an app with its own NodeSDK: ${c.name}`, async () => {
    sink().clear();
    const app = startNode(fixture('own-sdk-app.cjs'), {
      nodeArgs: ['--import', 'otel-forksafe/register'],
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink().httpEndpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        ...c.env,
      },
    });
    const port = Number(await app.waitForLine('READY'));
    assert.equal(await hammer(port, REQUESTS, '/own-sdk'), REQUESTS);
    app.send('stop');
    const { code, signal } = await app.exited;
    assert.deepEqual(
      { code, signal },
      { code: 0, signal: null },
      describe(app)
    );
    const serverSpans = () =>
      sink()
        .spans()
        .filter(s => s.kind === 2);
    await sink().waitFor(() => serverSpans().length >= REQUESTS, {
      what: `${REQUESTS} server spans\n${describe(app)}`,
    });
    // Anything exported twice would have arrived by now, with the first.
    await new Promise(r => setTimeout(r, 300));
    assert.equal(serverSpans().length, REQUESTS, 'each request traced once');
    const ids = new Set(
      serverSpans().map(s => s.resource['service.instance.id'])
    );
    assert.equal(ids.size, 1, 'all from one SDK');
    // Ours gives every process a service.instance.id; NodeSDK alone does not.
    assert.equal([...ids][0] !== undefined, c.ours, 'whose SDK exported');
    const lines = app.stderr.split('\n').filter(l => l !== '');
    assert.deepEqual(unexpectedWarnings(app.stderr), []);
    if (c.ours) {
      assert.equal(lines.length, 1, describe(app));
      assert.match(
        forksafeLines(app.stderr)[0] ?? '',
        /an OpenTelemetry SDK of its own: .*OTEL_FORKSAFE_EXCLUDE=own-sdk-app$/
      );
    } else {
      assert.deepEqual(lines, [], describe(app));
    }
  });
}
