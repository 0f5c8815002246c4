// Every process that may export, from its preload until it exports or turns out to be a
// primary: a cluster worker, or a main-thread process that is not one (a primary if it forks,
// standalone if it does not). Called once by src/preload/dispatch.ts.
import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type { ForksafeConfig } from '../config/types.ts';
import { log } from '../diag.ts';
import type { ProcessIdentity } from '../identity/process-identity.ts';
import { publishThreadIdentity } from '../identity/threads.ts';
import type * as EarlyProviders from '../instrumentation/early-providers.ts';
import type {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from '../instrumentation/early-providers.ts';
import {
  registerEntryMarker,
  registerImportHook,
} from '../instrumentation/esm-hooks.ts';
import { hookedModules } from '../instrumentation/hooked-modules.ts';
import { startLazyInstrumentations } from '../instrumentation/lazy.ts';
import { watchBuiltins } from '../instrumentation/load-hook.ts';
import { patchClusterFork } from '../patches/cluster-fork.ts';
import { keepMainModuleParentNull } from '../patches/main-module-parent.ts';
import type { PrimaryEndpoint } from '../prometheus/primary-endpoint.ts';
import type { PrometheusPart } from '../prometheus/start.ts';
import type { SdkHandle } from '../sdk/start.ts';
import { exportHere } from './export-here.ts';
import { hasMainModule } from './facts.ts';
import type { ForksafeGlobalState } from './global-state.ts';
import {
  clusterModule,
  connectApiDiag,
  loadApi,
  loadPrometheus,
} from './load.ts';
import type { ProcessRole } from './classify.ts';

const require = createRequire(import.meta.url);

// Published synchronously by net.Server#listen (http, https, net servers) on every supported Node.
const LISTEN_CHANNEL = 'tracing:net.server.listen:asyncStart';

/** What startUndecided needs from the dispatcher. */
export interface UndecidedOptions {
  readonly config: ForksafeConfig;
  readonly state: ForksafeGlobalState;
  readonly setRole: (role: ProcessRole) => void;
  /** The main module's URL when it is an ES module (src/preload/facts.ts). */
  readonly entryUrl: string | undefined;
  /** This process's identity, drawn now so that threads started early already know it. */
  readonly identity: ProcessIdentity;
  /** A cluster worker: exports once started, never forks into a primary. */
  readonly isWorker: boolean;
  /** Only for a process that may fork: what cluster.fork needs (src/patches/cluster-fork.ts). */
  readonly fork?: {
    readonly preloadUrl: string;
    readonly isOurPreload: (specifier: string) => boolean;
    readonly instanceBase: string;
    readonly reportedDigest: string;
  };
  /** This process's part in a Prometheus endpoint, once it exports (src/prometheus/). */
  readonly prometheusPart: PrometheusPart;
  readonly supervisorKillMillis: number | undefined;
}

// Dev note: a process that ends within this long of its main module's first run, having
// recorded nothing of its own (no span, no measurement), never starts the SDK: a script, a CLI
// or a test runner started with the preload in NODE_OPTIONS sends nothing, prints nothing and
// takes no longer. A server is still running by then and starts it.
const IDLE_START_MILLIS = 1000;

// Dev note: a process that may still fork stays cheap (no OpenTelemetry code loaded, modules
// noted by the instrumentation loader, src/instrumentation/late-patch.ts) until it knows it is
// standalone: its main module ran without loading node:cluster, a server of its own starts
// listening, it records a span, or this long has passed since its main module ran with
// node:cluster loaded but no fork (an app that forks after a slow start-up step).
const RECORD_LIMIT_MILLIS = 5000;

/**
 * Instrumentations load as their modules do from the start (a worker) or once the process is
 * known to be standalone (a process that may fork: until then it only records); the SDK starts
 * at the first span or measurement of the process (made through the deferred providers), or
 * IDLE_START_MILLIS after the main module ran, whichever comes first. A process that forks
 * first becomes a primary and never starts it. May throw (the preload's entry catches).
 */
export function startUndecided(o: UndecidedOptions): void {
  const { config, state, setRole } = o;
  let phase: 'recording' | 'waiting' | 'exporting' | 'primary' =
    o.fork !== undefined ? 'recording' : 'waiting';
  let sdk: SdkHandle | undefined;
  let mainRan = false;
  let mainRanAt = 0;
  let measuredEarly = false;
  let clusterLoaded = false;
  // Deferred providers exist from the moment the API is first loaded (by the app or an
  // instrumentation) or the SDK starts, whichever comes first; a primary may never need them.
  let deferred:
    | {
        tracerProvider: DeferredTracerProvider;
        meterProvider: DeferredMeterProvider;
      }
    | undefined;
  const ensureDeferred = (): NonNullable<typeof deferred> => {
    if (deferred) return deferred;
    const api = loadApi();
    // Loading the API for the first time comes back here through the require hook.
    if (deferred) return deferred;
    const { DeferredMeterProvider: Meters, DeferredTracerProvider: Tracers } =
      require('../instrumentation/early-providers.js') as typeof EarlyProviders;
    deferred = {
      tracerProvider: new Tracers(() => settle('first span')),
      meterProvider: new Meters(() => {
        // Before the main module ran this may still be a primary: wait for its end.
        if (mainRan) settle('first measurement');
        else measuredEarly = true;
      }),
    };
    api.trace.setGlobalTracerProvider(deferred.tracerProvider);
    api.metrics.setGlobalMeterProvider(deferred.meterProvider);
    connectApiDiag(config);
    return deferred;
  };
  // Set once the main CommonJS module is about to run (see the end of this function).
  let onMainLoaded: (() => void) | undefined;
  // Instrumentations load as their modules do, also before the SDK starts: an app requires
  // its modules in its first turn.
  const onApiLoaded = (): void => {
    if (phase === 'recording')
      stopRecording('the application loaded @opentelemetry/api');
    if (phase === 'waiting') ensureDeferred();
  };
  const lazy = startLazyInstrumentations(config.instrumentations, {
    onApiLoaded,
    onMainLoaded: () => onMainLoaded?.(),
    record: phase === 'recording',
    // An outgoing request while recording (a script calling an API from its first line): a
    // process that has not loaded node:cluster is standalone from here, and the request is
    // instrumented. One that has may be a primary fetching its configuration: it records on.
    onRecordedUse: what => {
      if (phase === 'recording' && !clusterLoaded)
        standalone(`${what} used without node:cluster loaded`);
      return phase !== 'recording';
    },
    onRecordingMustEnd: reason => stopRecording(reason),
  });
  state.esmModuleLoading = url => lazy.esmModuleLoading(url);
  if (config.threads === 'export') publishThreadIdentity(o.identity);
  // Dev note: the ESM loader hooks cost time at every import; a CommonJS entry is covered by
  // the require hook alone.
  // While recording, imports are noted at their resolution instead (lazy.ts); iitm is
  // registered for the imports that come after.
  const registerIitm = (): void => {
    if (o.entryUrl !== undefined)
      registerImportHook(hookedModules(config.instrumentations));
  };
  if (phase !== 'recording') registerIitm();
  lazy.loadEager();

  // Recording ends: OpenTelemetry code is in the process now (the app's own API, or an
  // instrumentation that cannot catch up), and it instruments as the previous release did; a
  // fork still makes it a primary.
  const stopRecording = (reason: string): void => {
    if (phase !== 'recording') return;
    phase = 'waiting';
    diagnosticsChannel.unsubscribe(LISTEN_CHANNEL, onListen);
    log.debug(`instrumenting: ${reason}`);
    registerIitm();
    lazy.release();
  };
  // Recording ends because this process is standalone (until a late fork says otherwise).
  const standalone = (reason: string): void => {
    if (phase !== 'recording') return;
    stopRecording(`standalone: ${reason}`);
    // Past the idle start already: no reason to wait longer.
    if (mainRan && Date.now() - mainRanAt >= IDLE_START_MILLIS) settle(reason);
  };
  // Runs inside the app's listen(): nothing may escape into it (a channel subscriber's throw
  // would become an uncaught exception).
  const onListen = (): void => {
    try {
      standalone('a server started listening');
    } catch (err) {
      log.error(
        'could not instrument what loaded before the first listen()',
        err
      );
    }
  };
  if (phase === 'recording')
    diagnosticsChannel.subscribe(LISTEN_CHANNEL, onListen);

  const settle = (reason: string): void => {
    if (phase === 'recording') stopRecording(`standalone: ${reason}`);
    if (phase !== 'waiting') return;
    phase = 'exporting';
    setRole(o.isWorker ? 'worker' : 'standalone');
    try {
      sdk = exportHere({
        config,
        identity: o.identity,
        lazy,
        deferred: ensureDeferred(),
        prometheusPart: o.prometheusPart,
        supervisorKillMillis: o.supervisorKillMillis,
      });
      log.debug(
        o.isWorker
          ? `SDK started: worker service.instance.id=${o.identity.instanceId} (${reason})`
          : `SDK started: standalone (${reason})`
      );
    } catch (err) {
      log.error(
        'the SDK failed to start; the application continues uninstrumented',
        err
      );
    }
  };

  // The main module's first run is over (or, failing a signal, a fallback timer fired).
  const mainModuleRan = (reason: string): void => {
    if (mainRan) return;
    mainRan = true;
    mainRanAt = Date.now();
    if (phase === 'recording') {
      if (!clusterLoaded) standalone(`${reason} without loading node:cluster`);
      else {
        setTimeout(
          () =>
            settle(
              `no fork ${RECORD_LIMIT_MILLIS} ms after the main module ran`
            ),
          RECORD_LIMIT_MILLIS
        ).unref();
      }
    }
    if (phase !== 'waiting' && phase !== 'recording') return;
    if (measuredEarly) {
      settle(`${reason}, measurements recorded`);
      return;
    }
    setTimeout(() => {
      if (phase === 'waiting')
        settle(`running ${IDLE_START_MILLIS} ms after the main module`);
    }, IDLE_START_MILLIS).unref();
  };

  const fork = o.fork;
  if (fork !== undefined) {
    let prometheus: PrimaryEndpoint | undefined;
    const becomePrimary = (): void => {
      if (phase === 'primary') return;
      const was = phase;
      phase = 'primary';
      setRole('primary');
      diagnosticsChannel.unsubscribe(LISTEN_CHANNEL, onListen);
      prometheus = startPrimaryPrometheus(config);
      lazy.stop();
      if (config.threads === 'export') publishThreadIdentity(undefined);
      if (was === 'waiting' || was === 'recording') {
        deferred?.tracerProvider.attach(undefined);
        deferred?.meterProvider.attach(undefined);
        log.debug(
          'first cluster.fork(): this process is a primary; no SDK here'
        );
        return;
      }
      // A late fork: this process exported as a standalone app until now. It flushes what
      // it has and goes quiet; its workers report from here on.
      deferred?.tracerProvider.silence();
      deferred?.meterProvider.silence();
      void sdk?.shutdown();
      log.debug(
        'cluster.fork() after the SDK started: now a primary; SDK shut down'
      );
    };
    // Dev note: patched when the app first loads node:cluster (throng, pm2 and apps all
    // require or import it), before the app gets it; a script that never does skips the cost.
    watchBuiltins(['cluster'], () => {
      clusterLoaded = true;
      try {
        patchClusterFork(clusterModule(), {
          ...fork,
          beforeFork: becomePrimary,
          afterFork: worker => prometheus?.watch(worker),
        });
        log.debug('patched cluster.fork');
      } catch (err) {
        log.error(
          'could not patch cluster.fork; workers start without the preload',
          err
        );
      }
    });
  }

  if (o.entryUrl !== undefined) {
    registerEntryMarker(o.entryUrl);
    state.apiLoading = onApiLoaded;
    state.mainEvaluated = () =>
      setImmediate(() => mainModuleRan('entry module evaluated'));
  } else if (hasMainModule()) {
    keepMainModuleParentNull(process.argv[1]);
    // Dev note: with `--import`, Node runs even a CommonJS entry through the ES loader, and
    // every further `--import` (tsx, a second preload) is evaluated before it: the preload's
    // first setImmediate can fire between two preloads, before the app's first line. So the
    // turn is counted from the main module's resolution (load-hook.ts), after which it runs
    // synchronously.
    onMainLoaded = () => setImmediate(() => mainModuleRan('main module ran'));
  } else {
    // No main module (-e, -p, stdin, REPL): the code has run by the first setImmediate.
    setImmediate(() => mainModuleRan('main module ran'));
  }
  // Fallback should the main module never be seen (a loader that evaluates it itself).
  setTimeout(() => mainModuleRan('fallback timer'), 2000).unref();
}

function startPrimaryPrometheus(
  config: ForksafeConfig
): PrimaryEndpoint | undefined {
  if (!config.exporters.metrics.includes('prometheus')) return undefined;
  try {
    return loadPrometheus().startPrimaryEndpoint(config.prometheus);
  } catch (err) {
    log.error('cannot start the Prometheus endpoint', err);
    return undefined;
  }
}
