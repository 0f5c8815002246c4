// The preload's CommonJS door: `node --require otel-forksafe/register` lands here.
// Dev note: Node 22 also runs --require preloads inside the module-hooks thread, where
// require() of an ES module fails (ERR_METHOD_NOT_IMPLEMENTED); off the main thread the
// preload does nothing anyway, so only the main thread loads the ES module register.js.
import type * as WorkerThreads from 'node:worker_threads';

/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file loading on purpose */
const { isMainThread } = require('node:worker_threads') as typeof WorkerThreads;
if (isMainThread) require('./register.js');
