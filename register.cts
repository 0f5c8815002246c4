// The preload's CommonJS door: `node --require otel-forksafe/register` lands here.
// Dev note: Node 22 also runs --require preloads inside the module-hooks thread, where
// require() of an ES module fails (ERR_METHOD_NOT_IMPLEMENTED); off the main thread the
// preload does nothing anyway, so only the main thread loads the ES module register.js.
// The Node check comes first: before 20.19, require() of an ES module throws ERR_REQUIRE_ESM.
import type { NodeSupport } from './src/node-support.cts';

// Dev note: Node replaces process.chdir by a throwing stub marked `disabled` in every thread but
// the main one (the hooks thread included): the check without node:worker_threads (~4 ms).
const isMainThread =
  (process.chdir as { disabled?: unknown }).disabled !== true;
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file loading on purpose */
const { stopOnUnsupportedNode } =
  require('./src/node-support.cjs') as NodeSupport;
if (!stopOnUnsupportedNode() && isMainThread) require('./register.js');
