// An instrumentation whose patch code throws is contained: the app gets what the original
// function gave (its result, or its own error), and we say so in one line, once.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { configureDiag } from '../../src/diag.ts';
import { applyInstrumentationFixes } from '../../src/instrumentation/fixes.ts';

type Fn = (...args: unknown[]) => unknown;

// The part of InstrumentationBase the fixes use: _wrap as shimmer does it.
function fakeInstrumentation(): Instrumentation & {
  _wrap: (obj: Record<string, unknown>, name: string, w: (o: Fn) => Fn) => void;
} {
  return {
    _wrap(obj: Record<string, unknown>, name: string, wrapper: (o: Fn) => Fn) {
      obj[name] = wrapper(obj[name] as Fn);
    },
  } as never;
}

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  configureDiag({ level: 'warn', write: line => lines.push(line) });
});

function patchedModule(
  name: string,
  original: Fn,
  patch: (original: Fn) => Fn
): { run: Fn } {
  const instrumentation = fakeInstrumentation();
  applyInstrumentationFixes(name, instrumentation);
  const exports: Record<string, unknown> = { run: original };
  instrumentation._wrap(exports, 'run', patch);
  return exports as { run: Fn };
}

test('patch code that throws after the original ran: the original result, one line', () => {
  let calls = 0;
  const mod = patchedModule(
    'throws-after',
    (x: unknown) => {
      calls++;
      return `got ${String(x)}`;
    },
    original =>
      function (this: unknown, ...args: unknown[]) {
        const result = original.apply(this, args);
        throw new TypeError('res.once is not a function');
        return result;
      }
  );
  assert.equal(mod.run(1), 'got 1');
  assert.equal(mod.run(2), 'got 2');
  assert.equal(calls, 2);
  assert.equal(lines.length, 1, lines.join(''));
  assert.match(
    lines[0]!,
    /instrumentation "throws-after" threw in its patch of run: res\.once is not a function/
  );
});

test('patch code that throws before the original ran: the original runs once', () => {
  let calls = 0;
  const mod = patchedModule(
    'throws-before',
    () => {
      calls++;
      return 'original';
    },
    () =>
      function () {
        throw new Error('broken patch');
      }
  );
  assert.equal(mod.run(), 'original');
  assert.equal(calls, 1);
  assert.equal(lines.length, 1);
});

test("the original's own error reaches the app, and is not reported", () => {
  const appError = new Error('the app failed');
  const mod = patchedModule(
    'rethrows',
    () => {
      throw appError;
    },
    original =>
      function (this: unknown, ...args: unknown[]) {
        try {
          return original.apply(this, args);
        } catch (err) {
          throw new Error('wrapped', { cause: err });
        }
      }
  );
  assert.throws(
    () => mod.run(),
    err => err === appError
  );
  assert.deepEqual(lines, []);
});

test('a well-behaved patch is untouched: its result, the arity it saw', () => {
  let seenLength = -1;
  const mod = patchedModule(
    'fine',
    (a: unknown, b: unknown, c: unknown) => [a, b, c],
    original => {
      seenLength = original.length;
      return function (this: unknown, ...args: unknown[]) {
        return ['patched', original.apply(this, args)];
      };
    }
  );
  assert.deepEqual(mod.run(1, 2, 3), ['patched', [1, 2, 3]]);
  assert.equal(seenLength, 3);
  assert.deepEqual(lines, []);
});
