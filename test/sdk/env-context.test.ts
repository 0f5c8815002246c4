// ProcessRootContextManager (src/env-context.ts) against what AsyncLocalStorageContextManager
// does: the same cases run on both, so a difference in behaviour fails here.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  createContextKey,
  ROOT_CONTEXT,
  type ContextManager,
} from '@opentelemetry/api';
import { ProcessRootContextManager } from '../../src/sdk/env-context-manager.ts';

const KEY = createContextKey('test');
const A = ROOT_CONTEXT.setValue(KEY, 'a');
const B = ROOT_CONTEXT.setValue(KEY, 'b');

const managers: Array<[string, () => ContextManager]> = [
  ['upstream', () => new AsyncLocalStorageContextManager()],
  ['ours', () => new ProcessRootContextManager()],
];

for (const [name, make] of managers) {
  describe(`${name} context manager`, () => {
    test('with: thisArg and arguments reach the function', () => {
      const m = make();
      const self = { n: 1 };
      const got = m.with(
        A,
        function (this: typeof self, x: number) {
          return [this.n, x, m.active().getValue(KEY)];
        },
        self,
        2
      );
      assert.deepEqual(got, [1, 2, 'a']);
    });

    test('bind(function): runs in the context, keeps this, arguments and length', () => {
      const m = make();
      const bound = m.bind(A, function (this: unknown, x: number, _y: number) {
        return [this, x, m.active().getValue(KEY)];
      });
      assert.equal(bound.length, 2);
      const self = {};
      assert.deepEqual(
        m.with(B, () => bound.call(self, 5, 6)),
        [self, 5, 'a']
      );
    });

    test('bind(emitter): listeners run in the first bound context; removal works', () => {
      const m = make();
      const ee = new EventEmitter();
      m.bind(A, ee);
      m.bind(B, ee);
      const seen: unknown[] = [];
      const listener = (): void => {
        seen.push(m.active().getValue(KEY));
      };
      const onceListener = (): void => {
        seen.push(m.active().getValue(KEY));
      };
      const removedOnce = (): void => {
        seen.push('removed once');
      };
      const removed = (): void => {
        seen.push('removed');
      };
      m.with(B, () => {
        ee.on('x', listener);
        ee.once('x', onceListener);
        ee.prependListener('x', removed);
        ee.once('x', removedOnce);
      });
      ee.removeListener('x', removed);
      ee.off('x', removedOnce);
      assert.equal(ee.listenerCount('x'), 2);
      m.with(B, () => ee.emit('x'));
      assert.deepEqual(seen, ['a', 'a']);
      assert.equal(ee.listenerCount('x'), 1, 'the once listener is gone');
      ee.removeListener('x', listener);
      assert.equal(ee.listenerCount('x'), 0);
      ee.on('y', listener);
      ee.removeAllListeners();
      assert.equal(ee.listenerCount('y'), 0);
    });
  });
}
