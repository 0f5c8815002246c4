// diag.ts writes DiagLogLevel's values out (so loading it does not load the API): they must
// stay equal to the API's own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiagLogLevel } from '@opentelemetry/api';
import { toDiagLogLevel } from '../src/diag.ts';

test('toDiagLogLevel matches the API enum', () => {
  assert.equal(toDiagLogLevel('none'), DiagLogLevel.NONE);
  assert.equal(toDiagLogLevel('error'), DiagLogLevel.ERROR);
  assert.equal(toDiagLogLevel('warn'), DiagLogLevel.WARN);
  assert.equal(toDiagLogLevel('info'), DiagLogLevel.INFO);
  assert.equal(toDiagLogLevel('debug'), DiagLogLevel.DEBUG);
  assert.equal(toDiagLogLevel('verbose'), DiagLogLevel.VERBOSE);
  assert.equal(toDiagLogLevel('all'), DiagLogLevel.ALL);
});

// One line per problem, deduplicated by cause: what the SDK, the exporters and the API report
// through diag comes out as single lines, numbers folded, stack frames only at debug.
test('the diag bridge: one line per cause, no stack frames, duplicate registrations folded', async () => {
  const { configureDiag, createDiagBridge, causeKey } =
    await import('../src/diag.ts');
  const lines: string[] = [];
  configureDiag({ level: 'warn', write: line => lines.push(line) });
  const bridge = createDiagBridge();
  const deadline = (s: string) =>
    `PeriodicExportingMetricReader: metrics export failed (error Error: 4 DEADLINE_EXCEEDED: Deadline exceeded after ${s}s,name resolution: 0.008s,Waiting for LB pick)`;
  bridge.error(deadline('9.999'));
  bridge.error(deadline('10.001'));
  assert.equal(causeKey('after 9.999s'), causeKey('after 10.001s'));
  for (const api of ['trace', 'context', 'propagation', 'metrics']) {
    const err = new Error(
      `@opentelemetry/api: Attempted duplicate registration of API: ${api}`
    );
    bridge.error(err.stack ?? err.message);
  }
  bridge.warn(
    'Something odd\n    at fn (/app/node_modules/x/index.js:1:2)\n    at other (/app/y.js:3:4)'
  );
  assert.equal(lines.length, 3, lines.join(''));
  assert.match(lines[0] ?? '', /telemetry export failed: 4 DEADLINE_EXCEEDED/);
  assert.match(
    lines[1] ?? '',
    /started an OpenTelemetry SDK of its own: .*OTEL_FORKSAFE_EXCLUDE=/
  );
  assert.match(lines[2] ?? '', /warn: Something odd\n$/);
  for (const line of lines) {
    assert.equal(line.split('\n').length, 2, 'one line each');
    assert.doesNotMatch(line, /\bat \S+ \(/);
  }
});
