// The preload: `node --import otel-forksafe/register app.js` (or --require, or NODE_OPTIONS).
// Claims the process once, then hands over to src/bootstrap.ts. Never throws, never writes to
// stdout; on failure it prints one line and the application runs on uninstrumented.
import { bootstrap } from './src/bootstrap.ts';
import { log } from './src/diag.ts';
import { claimGlobalState } from './src/global-state.ts';
import { VERSION } from './src/version.ts';

try {
  // A second copy (preload given on argv and in NODE_OPTIONS) finds the slot taken and stops.
  const state = claimGlobalState(VERSION, 'starting');
  if (state) bootstrap(state, import.meta.url);
} catch (err) {
  log.error('failed to start; the application continues uninstrumented', err);
}
