// The preload: `node --import otel-forksafe/register app.js` (or --require, or NODE_OPTIONS).
// Hands its own URL (what cluster workers are given to load) to src/preload.ts. Never throws,
// never writes to stdout; on failure it prints one line and the application runs on
// uninstrumented.
import { startPreload } from './src/preload.ts';

startPreload(import.meta.url);
