// What the preload loads only once it needs it: the OpenTelemetry API, node:cluster, and our
// bundles (the SDK, the Prometheus endpoint), each through require() so that the start stays
// synchronous. Used by src/preload/undecided.ts and export-here.ts.
import type { Cluster } from 'node:cluster';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Api from '@opentelemetry/api';
import type { ForksafeConfig } from '../config/types.ts';
import { installDiagBridge, log } from '../diag.ts';
import { loadBundle } from '../loading/code-cache.ts';
import type * as PrometheusStartExports from '../prometheus/start.ts';
import type * as SdkExports from '../sdk/start.ts';

const require = createRequire(import.meta.url);

// Dev note: nothing heavy is loaded before the role is known. The API alone costs ~15 ms and
// ~8 MB, which a cluster primary never needs: it is required only when the app (or an
// instrumentation) loads it, or when this process starts an SDK.
/** The OpenTelemetry API, from node_modules (one copy per process, shared with the app). */
export function loadApi(): typeof Api {
  return require('@opentelemetry/api') as typeof Api;
}

let apiDiagConnected = false;
/** Routes the API's own diag messages (SDK, exporters, instrumentations) through our writer. */
export function connectApiDiag(config: ForksafeConfig): void {
  if (apiDiagConnected) return;
  apiDiagConnected = true;
  installDiagBridge(loadApi(), config.logLevel);
}

/** node:cluster, loaded on first use (~7 ms that most processes never need). */
export function clusterModule(): Cluster {
  return require('node:cluster') as Cluster;
}

/** One of our bundles, through the code cache (src/loading/code-cache.ts). */
export function loadOurBundle(file: string, config: ForksafeConfig): unknown {
  const { exports, outcome } = loadBundle(file, config.codeCacheDir);
  log.debug(`loaded ${basename(file)} (code cache: ${outcome})`);
  return exports;
}

// Dev note: the SDK is required only when this process is known to export. `npm run build`
// bundles src/sdk/ into one file (scripts/bundle.mjs), which loads in about half the time of
// the ~700 files it is made of; the plain ES build is the fallback when the bundle is absent.
/** src/sdk/start.ts, from its bundle. */
export function loadSdk(config: ForksafeConfig): typeof SdkExports {
  const bundle = new URL('../sdk/sdk.bundle.cjs', import.meta.url);
  return (
    existsSync(bundle)
      ? loadOurBundle(fileURLToPath(bundle), config)
      : require('../sdk/start.js')
  ) as typeof SdkExports;
}

// Dev note: required only when OTEL_METRICS_EXPORTER has prometheus, after the role is known:
// a primary loads node:http and src/prometheus/ (no SDK), and only from its first fork on.
/** src/prometheus/start.ts, from its bundle. */
export function loadPrometheus(): typeof PrometheusStartExports {
  const bundle = new URL(
    '../prometheus/prometheus.bundle.cjs',
    import.meta.url
  );
  return (
    existsSync(bundle)
      ? require(fileURLToPath(bundle))
      : require('../prometheus/start.js')
  ) as typeof PrometheusStartExports;
}
