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
