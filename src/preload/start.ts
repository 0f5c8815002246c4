// The preload's body, called by register.ts (the `otel-forksafe/register` entry) with its own
// URL: claims the process once, then hands over to dispatch.ts (the role table). `npm run build` bundles this
// file and what it imports into one module (scripts/bundle.mjs): one file loads faster and
// takes less memory than sixteen, and a cluster primary loads nothing else.
import { dispatch } from './dispatch.ts';
import { log } from '../diag.ts';
import { claimGlobalState } from './global-state.ts';
import { VERSION } from '../version.ts';

/** Starts the preload in this process. Never throws; never writes to stdout. */
export function startPreload(selfUrl: string): void {
  try {
    // A second copy (preload given on argv and in NODE_OPTIONS) finds the slot taken and stops.
    const state = claimGlobalState(VERSION, 'starting');
    if (state) dispatch(state, selfUrl);
  } catch (err) {
    log.error('failed to start; the application continues uninstrumented', err);
  }
}
