// The packages src/sdk/ loads only when the configuration names them. Their require() calls
// are literal, so esbuild bundles each into dist/src/sdk/sdk.bundle.cjs, where it is evaluated
// on first call.
// Dev note: src/sdk/ runs only as that bundle (src/preload/load.ts loads nothing else), which
// gives it CommonJS's `require`; tsc's ES module output of this folder is never loaded.
import type * as PrometheusModule from '@opentelemetry/exporter-prometheus';
import type * as B3Module from '@opentelemetry/propagator-b3';
import { createRequire } from 'node:module';

/* eslint-disable @typescript-eslint/no-require-imports -- literal require() calls on purpose, see above */

/** @opentelemetry/propagator-b3 (OTEL_PROPAGATORS=b3 or b3multi). */
export function loadB3(): typeof B3Module {
  return require('@opentelemetry/propagator-b3') as typeof B3Module;
}

/** @opentelemetry/exporter-prometheus, for its serializer (OTEL_METRICS_EXPORTER=prometheus). */
export function loadPrometheusExporter(): typeof PrometheusModule {
  return require('@opentelemetry/exporter-prometheus') as typeof PrometheusModule;
}

/**
 * A package among auto-instrumentations-node's dependencies (the cloud resource detectors),
 * resolved at run time from where that package is installed; never bundled.
 */
export function requireFromAutoInstrumentations(name: string): unknown {
  return createRequire(
    require.resolve('@opentelemetry/auto-instrumentations-node')
  )(name);
}
