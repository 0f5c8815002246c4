// "Start exporting", written once for every role that exports (a cluster worker, a standalone
// app, a worker thread in OTEL_FORKSAFE_THREADS=export mode): instrumentations -> SDK -> exit
// handling -> Prometheus part. Called by src/preload/undecided.ts and dispatch.ts.
import type { ForksafeConfig } from '../config/types.ts';
import { log } from '../diag.ts';
import { installShutdown } from '../exit/shutdown.ts';
import { identityWithFileId } from '../identity/file-id.ts';
import type { ProcessIdentity } from '../identity/process-identity.ts';
import type {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from '../instrumentation/early-providers.ts';
import type { LazyInstrumentations } from '../instrumentation/lazy.ts';
import type { PrometheusPart } from '../prometheus/start.ts';
import type { SdkHandle } from '../sdk/start.ts';
import { connectApiDiag, loadPrometheus, loadSdk } from './load.ts';

/** What exportHere needs. */
export interface ExportHereOptions {
  readonly config: ForksafeConfig;
  readonly identity: ProcessIdentity;
  readonly lazy: LazyInstrumentations;
  /** Providers the app may already hold (undecided processes and workers). */
  readonly deferred?: {
    readonly tracerProvider: DeferredTracerProvider;
    readonly meterProvider: DeferredMeterProvider;
  };
  /** This process's part in a Prometheus endpoint (src/prometheus/), if any. */
  readonly prometheusPart?: PrometheusPart;
  /** pm2's kill_timeout: the exit bound stays below it. */
  readonly supervisorKillMillis?: number | undefined;
}

/** Starts the SDK in this process and everything that goes with it. May throw. */
export function exportHere(options: ExportHereOptions): SdkHandle {
  const { lazy, deferred } = options;
  let { config, identity } = options;
  connectApiDiag(config);
  const sdkModule = loadSdk(config);
  // OTEL_CONFIG_FILE is read here, at the SDK's start (never in a primary).
  if (config.configFile !== undefined) {
    const fromFile = sdkModule.startFromConfigFile(config.configFile, config);
    if (fromFile === undefined) return noSdk(deferred);
    config = fromFile.config;
    identity = identityWithFileId(identity, fromFile.instanceId);
  }
  lazy.loadUnhooked();
  const started = sdkModule.startSdk(config, {
    identity,
    instrumentations: lazy.loaded,
    ...(deferred && { deferred }),
  });
  // Dev note: nothing may ask the SDK's providers for a meter or logger once it shuts down
  // (they refuse with a warning): no instrumentation is constructed from then on, and meters
  // asked for from then on are no-ops.
  const sdk: SdkHandle = {
    ...started,
    shutdown: () => {
      lazy.freeze();
      deferred?.meterProvider.close();
      return started.shutdown();
    },
  };
  installShutdown(sdk, config, {
    supervisorKillMillis: options.supervisorKillMillis,
  });
  if (options.prometheusPart !== undefined && sdk.prometheus) {
    try {
      loadPrometheus().startPrometheusPart(
        options.prometheusPart,
        config.prometheus,
        sdk.prometheus
      );
    } catch (err) {
      log.error('cannot start the Prometheus endpoint', err);
    }
  }
  return sdk;
}

/**
 * The handle of an SDK that did not start: nothing to flush. Providers handed out early are
 * told there will be none, so what they held is dropped and nothing more is held.
 */
export function noSdk(deferred?: {
  readonly tracerProvider: DeferredTracerProvider;
  readonly meterProvider: DeferredMeterProvider;
}): SdkHandle {
  deferred?.tracerProvider.attach(undefined);
  deferred?.meterProvider.attach(undefined);
  const none = { spans: 0, metricPoints: 0, logRecords: 0 };
  return {
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
    flushSync: () => undefined,
    undelivered: () => ({ pending: none, lost: none, cause: undefined }),
    abort: () => undefined,
  };
}
