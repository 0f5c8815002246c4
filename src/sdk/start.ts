// startSdk(): starts @opentelemetry/sdk-node for this process with our pipelines, sampler,
// propagators, resource and context manager, and returns the handle the exit path uses. The
// entry of the SDK bundle (dist/src/sdk/sdk.bundle.cjs); loaded only in processes that export.
import { context, diag, metrics, propagation, trace } from '@opentelemetry/api';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { ForksafeConfig } from '../config/types.ts';
import { describeError, log } from '../diag.ts';
import { flushSync, type SyncFlushResult } from '../exit/sync-flush.ts';
import type { ProcessIdentity } from '../identity/process-identity.ts';
import type {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from '../instrumentation/early-providers.ts';
import { abortAllExports } from '../otlp/transport.ts';
import type { PrometheusSource } from '../sdk/prometheus-reader.ts';
import type { DetachedState } from './detached-exporter.ts';
import {
  extractEnvContext,
  ProcessRootContextManager,
} from './env-context-manager.ts';
import { buildPipelines } from './pipelines.ts';

export { startFromConfigFile } from './config-file-start.ts';
import { createPropagator } from './propagation.ts';
import { buildResource } from './resource.ts';
import { createSampler } from './sampling.ts';

/** A started SDK. */
export interface SdkHandle {
  /** Exports everything buffered so far. Never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops every provider. Never rejects; idempotent. */
  shutdown(): Promise<void>;
  /**
   * Exports what is still pending without awaiting (for exits that cannot await); blocks for
   * at most `timeoutMillis`. A no-op once shutdown() has completed.
   */
  flushSync(
    timeoutMillis: number,
    options?: { metrics?: boolean }
  ): SyncFlushResult | undefined;
  /**
   * Telemetry not delivered so far: still pending, and dropped or failed since the start.
   */
  undelivered(): Undelivered;
  /** Cancels every export in flight and every later one (the process is ending). */
  abort(reason: string): void;
  /** Set when OTEL_METRICS_EXPORTER has prometheus: this process's metrics, on demand. */
  readonly prometheus?: PrometheusSource;
}

/** Counts of telemetry items of each signal. */
export interface TelemetryCounts {
  readonly spans: number;
  readonly metricPoints: number;
  readonly logRecords: number;
}

/** Telemetry not delivered (see SdkHandle.undelivered). */
export interface Undelivered {
  /** Not sent yet: queued, held back or in flight. */
  readonly pending: TelemetryCounts;
  /** Dropped from a full queue, or whose export failed, since the start. */
  readonly lost: TelemetryCounts;
  /** The last export error, short. */
  readonly cause: string | undefined;
}

/** Inputs of startSdk besides the config. */
export interface StartSdkOptions {
  readonly identity: ProcessIdentity;
  readonly instrumentations: readonly Instrumentation[];
  /** Providers handed out before the SDK existed, to be connected to the real ones. */
  readonly deferred?: {
    readonly tracerProvider: DeferredTracerProvider;
    readonly meterProvider: DeferredMeterProvider;
  };
}

/**
 * Starts the SDK for this process. May throw if the SDK itself fails to start; the preload
 * catches that at the preload boundary.
 */
export function startSdk(
  config: ForksafeConfig,
  options: StartSdkOptions
): SdkHandle {
  setGlobalErrorHandler(err => log.exportFailed(err));
  const {
    spanProcessors,
    metricReaders,
    logRecordProcessors,
    syncSources,
    detached,
    prometheus,
  } = buildPipelines(config);
  // Dev note: NodeSDK installs a console logger of its own when OTEL_LOG_LEVEL is set (it
  // writes debug lines to stdout, which belongs to the app). Its setLogger call is made a
  // no-op for the constructor, so our one-line stderr logger stays in place.
  const setLogger = diag.setLogger;
  diag.setLogger = () => true;
  const resource = buildResource(config, options.identity);
  // Dev note: a resource with async attributes (host.id) stays "pending" until someone awaits
  // it, and the batch processors hold each batch back until then: such a batch is in neither
  // the queue nor the exporter, out of the exit-time flush's reach. Settle it now (a few ms).
  void resource.waitForAsyncAttributes?.().catch(() => undefined);
  const contextManager = new ProcessRootContextManager();
  let sdk: NodeSDK;
  try {
    sdk = new NodeSDK({
      resource,
      autoDetectResources: false,
      spanProcessors,
      metricReaders,
      logRecordProcessors,
      sampler: createSampler(config),
      textMapPropagator: createPropagator(config),
      contextManager,
      instrumentations: [...options.instrumentations],
    });
  } finally {
    diag.setLogger = setLogger;
  }
  // Our deferred providers hold the global slots; NodeSDK registers its own in their place.
  // Dev note: so do an SDK the app started before ours (a tracing.js in a standalone app,
  // which runs before the role is decided): ours keeps running, the app's is set aside
  // (README, "An app with its own SDK"), and every request is exported once.
  trace.disable();
  metrics.disable();
  context.disable();
  propagation.disable();
  sdk.start();
  // A parent process (or CI runner) that started this one inside a span passed it in
  // TRACEPARENT/TRACESTATE: spans started with no active context continue that trace.
  const envContext = extractEnvContext();
  if (envContext) contextManager.setRoot(envContext);
  const { deferred } = options;
  if (deferred) {
    // Dev note: the deferred providers stay the global ones, delegating to the SDK's, so a
    // process that later forks can silence every tracer and meter the app holds at once.
    const realTracerProvider = trace.getTracerProvider();
    const realMeterProvider =
      metricReaders.length > 0 ? metrics.getMeterProvider() : undefined;
    trace.disable();
    metrics.disable();
    trace.setGlobalTracerProvider(deferred.tracerProvider);
    metrics.setGlobalMeterProvider(deferred.meterProvider);
    deferred.tracerProvider.attach(realTracerProvider);
    deferred.meterProvider.attach(realMeterProvider);
  }
  let shutdownPromise: Promise<void> | undefined;
  let shutdownDone = false;
  return {
    ...(prometheus ? { prometheus } : {}),
    forceFlush: async () => {
      await Promise.allSettled([
        ...spanProcessors.map(p => p.forceFlush()),
        ...metricReaders.map(r => r.forceFlush()),
        ...logRecordProcessors.map(p => p.forceFlush()),
      ]);
      // The processors hand their batches over at once; delivery is the queues' part.
      await Promise.allSettled(
        [...detached.spans, ...detached.metrics, ...detached.logs].map(q =>
          q.forceFlush()
        )
      );
    },
    undelivered: () => {
      const sum = <Q>(queues: readonly Q[], f: (q: Q) => number): number =>
        queues.reduce((n, q) => n + f(q), 0);
      const lost = (q: { state(): DetachedState }): number => q.state().lost;
      const lastError = [
        ...detached.spans,
        ...detached.metrics,
        ...detached.logs,
      ]
        .map(q => q.state().lastError)
        .find(e => e !== undefined);
      return {
        pending: {
          spans: sum(syncSources.spans, s => s.ledger.size),
          metricPoints: sum(detached.metrics, q => q.state().pending),
          logRecords: sum(syncSources.logs, s => s.ledger.size),
        },
        lost: {
          spans: sum(detached.spans, lost),
          metricPoints: sum(detached.metrics, lost),
          logRecords: sum(detached.logs, lost),
        },
        cause: lastError === undefined ? undefined : describeError(lastError),
      };
    },
    abort: reason => abortAllExports(reason),
    shutdown: () => {
      shutdownPromise ??= sdk.shutdown().then(
        () => {
          shutdownDone = true;
        },
        // Export failures at shutdown are export failures: one deduplicated line.
        (err: unknown) => log.exportFailed(err)
      );
      return shutdownPromise;
    },
    flushSync: (timeoutMillis, flushOptions) =>
      shutdownDone
        ? undefined
        : flushSync(
            flushOptions?.metrics === false
              ? { ...syncSources, metrics: [] }
              : syncSources,
            timeoutMillis
          ),
  };
}
