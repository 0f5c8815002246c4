// Global tracer and meter providers for a process whose role is not known yet, loaded together
// the moment the app (or an instrumentation) first loads the API (src/preload/undecided.ts).
export { DeferredMeterProvider } from './early-meters.ts';
export { DeferredTracerProvider } from './early-tracers.ts';
