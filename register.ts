// The preload: `node --import otel-forksafe/register app.js` (or --require, or NODE_OPTIONS).
// Hands its own URL (what cluster workers are given to load) to src/preload.ts. Never throws,
// never writes to stdout; on failure it prints one line and the application runs on
// uninstrumented.
import { createRequire } from 'node:module';
import type * as Preload from './src/preload/start.ts';
import type { NodeSupport } from './src/node-support.cts';

// Dev note: the Node check must run before the preload's module graph is linked: on an old
// Node a named import of a built-in export it lacks (`registerHooks` from node:module) fails
// at link time, before any code of ours runs. So this file imports nothing statically but
// createRequire, loads the check (a CommonJS leaf, loadable on any Node) with require(), and
// only then the preload, synchronously too (require(esm), Node 22.12+). No top-level await
// in this graph: --require (register.cts) loads this file with require() as well.
const require = createRequire(import.meta.url);
const { stopOnUnsupportedNode } =
  require('./src/node-support.cjs') as NodeSupport;
if (!stopOnUnsupportedNode()) {
  try {
    const { startPreload } =
      require('./src/preload/start.js') as typeof Preload;
    startPreload(import.meta.url);
  } catch (err) {
    // startPreload never throws: this is the preload failing to load at all.
    process.stderr.write(
      `otel-forksafe: [${process.pid} starting] error: failed to load; the application continues uninstrumented: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`
    );
  }
}
