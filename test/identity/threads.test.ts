// isWorkerThread() tells a worker thread from the main thread without loading
// node:worker_threads; checked here against what node:worker_threads itself says, in both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isMainThread, Worker } from 'node:worker_threads';
import { isWorkerThread } from '../../src/identity/threads.ts';
import { ROOT } from '../helpers/run-node.ts';

test('isWorkerThread: false in the main thread, true in a worker thread', async () => {
  assert.equal(isMainThread, true);
  assert.equal(isWorkerThread(), false);
  const built = pathToFileURL(`${ROOT}/dist/src/identity/threads.js`).href;
  const worker = new Worker(
    `const { parentPort, isMainThread } = require('node:worker_threads');
     import(${JSON.stringify(built)}).then(m => parentPort.postMessage([isMainThread, m.isWorkerThread()]));`,
    { eval: true }
  );
  try {
    const answer = await new Promise<unknown>(resolve =>
      worker.once('message', resolve)
    );
    assert.deepEqual(answer, [false, true]);
  } finally {
    await worker.terminate();
  }
});
