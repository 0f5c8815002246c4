// What the preload does, by role: nothing (disabled, thread, excluded), start the SDK now
// (cluster worker), or patch cluster.fork and wait to see whether this process forks (primary)
// or not (standalone). Called once per process by preload.ts.
import type * as ChildProcessModule from 'node:child_process';
import type { Cluster } from 'node:cluster';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  basename,
  dirname,
  extname,
  isAbsolute,
  join,
  resolve,
} from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import type * as Api from '@opentelemetry/api';
import { patchChildProcess } from '../patches/child-process.ts';
import { patchClusterFork } from '../patches/cluster-fork.ts';
import { loadBundle } from '../loading/code-cache.ts';
import {
  describeConfig,
  readConfig,
  WORKER_MARKER_VARS,
  type ForksafeConfig,
} from '../config/read-config.ts';
import type * as DeferredExports from '../instrumentation/early-providers.ts';
import type {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from '../instrumentation/early-providers.ts';
import { configureDiag, installDiagBridge, log, setDiagRole } from '../diag.ts';
import {
  registerEntryMarker,
  registerImportHook,
} from '../instrumentation/esm-hooks.ts';
import type { ForksafeGlobalState } from './global-state.ts';
import {
  standaloneIdentity,
  workerIdentity,
  type ProcessIdentity,
} from '../identity/process-identity.ts';
import { hookedModules } from '../instrumentation/hooked-modules.ts';
import {
  startLazyInstrumentations,
  type LazyInstrumentations,
} from '../instrumentation/lazy.ts';
import {
  beforeFirstResolve,
  watchBuiltins,
} from '../instrumentation/load-hook.ts';
import { keepMainModuleParentNull } from '../patches/main-module-parent.ts';
import { pm2Identity, type Pm2Process } from '../identity/pm2.ts';
import {
  classifyProcess,
  isPm2AppContainer,
  type ProcessRole,
} from './classify.ts';
import { publishThreadIdentity, threadIdentity } from '../identity/threads.ts';
import { digest, randomUuid } from '../identity/random-id.ts';
import type { PrimaryEndpoint } from '../prometheus/primary-endpoint.ts';
import type * as PrometheusStartExports from '../prometheus/start.ts';
import type { PrometheusPart } from '../prometheus/start.ts';
import type * as SdkExports from '../sdk/start.ts';
import type { SdkHandle, StartSdkOptions } from '../sdk/start.ts';
import { preloadSharedDeps } from '../loading/shared-deps.ts';
import { installShutdown } from '../exit/shutdown.ts';
import { VERSION } from '../version.ts';

const require = createRequire(import.meta.url);

type SdkModule = typeof SdkExports;

// Dev note: nothing heavy is loaded before the role is known. The API alone costs ~15 ms and
// ~8 MB, which a cluster primary never needs: it is required only when the app (or an
// instrumentation) loads it, or when this process starts an SDK.
function loadApi(): typeof Api {
  return require('@opentelemetry/api') as typeof Api;
}

let apiDiagConnected = false;
/** Routes the API's own diag messages (SDK, exporters, instrumentations) through our writer. */
function connectApiDiag(config: ForksafeConfig): void {
  if (apiDiagConnected) return;
  apiDiagConnected = true;
  installDiagBridge(loadApi(), config.logLevel);
}

// Dev note: the SDK is required only when this process is known to export; require() keeps
// the start synchronous, so a worker's SDK is up before app code. `npm run build` bundles it
// into one file (scripts/bundle.mjs), which loads in about half the time of the ~700
// files it is made of; the plain ES build is the fallback when the bundle is absent.
function startSdk(config: ForksafeConfig, options: StartSdkOptions): SdkHandle {
  const bundle = new URL('../sdk/start.bundle.cjs', import.meta.url);
  const sdk = (
    existsSync(bundle)
      ? loadOurBundle(fileURLToPath(bundle), config)
      : require('../sdk/start.js')
  ) as SdkModule;
  return sdk.startSdk(config, options);
}

// --- Prometheus (issue #16): one scrape endpoint per cluster; see src/prometheus/. ---
// Dev note: required only when OTEL_METRICS_EXPORTER has prometheus, after the role is known:
// a primary loads node:http and src/prometheus/ (no SDK), and only from its first fork on.
// The bundle of src/prometheus/ (scripts/bundle.mjs), or its plain ES build when absent.
function loadPrometheus(): unknown {
  const bundle = new URL('../prometheus/start.bundle.cjs', import.meta.url);
  return existsSync(bundle)
    ? require(fileURLToPath(bundle))
    : require('../prometheus/start.js');
}

function startPrometheus(
  part: PrometheusPart,
  config: ForksafeConfig,
  sdk: SdkHandle
): void {
  if (!sdk.prometheus) return;
  try {
    const { startPrometheusPart } =
      loadPrometheus() as typeof PrometheusStartExports;
    startPrometheusPart(part, config.prometheus, sdk.prometheus);
  } catch (err) {
    log.error('cannot start the Prometheus endpoint', err);
  }
}

function startPrimaryPrometheus(
  config: ForksafeConfig
): PrimaryEndpoint | undefined {
  if (!config.exporters.metrics.includes('prometheus')) return undefined;
  try {
    const { startPrimaryEndpoint } =
      loadPrometheus() as typeof PrometheusStartExports;
    return startPrimaryEndpoint(config.prometheus);
  } catch (err) {
    log.error('cannot start the Prometheus endpoint', err);
    return undefined;
  }
}
// --- end Prometheus ---

/** One of our bundles, through the code cache (src/code-cache.ts). */
function loadOurBundle(file: string, config: ForksafeConfig): unknown {
  const { exports, outcome } = loadBundle(file, config.codeCacheDir);
  log.debug(`loaded ${basename(file)} (code cache: ${outcome})`);
  return exports;
}

function clusterModule(): Cluster {
  return require('node:cluster') as Cluster;
}

// Children started from here load the preload and continue the active trace: node:child_process
// is patched when the app first loads it.
function patchChildProcessWhenLoaded(selfUrl: string): void {
  watchBuiltins(['child_process'], () => {
    try {
      patchChildProcess(
        require('node:child_process') as typeof ChildProcessModule,
        { preloadUrl: selfUrl, isOurPreload: createPreloadMatcher(selfUrl) }
      );
    } catch (err) {
      log.error(
        'could not patch node:child_process; children start without the preload',
        err
      );
    }
  });
}

/** Stable digest of the problems list, so workers do not repeat what their primary said. */
function problemsDigest(problems: readonly string[]): string {
  return digest(problems.join('\n'));
}

// Node options under which argv[1] (if any) is an argument of inline code, not a main module.
const NO_MAIN_FLAGS = new Set([
  '-e',
  '--eval',
  '-p',
  '--print',
  '-i',
  '--interactive',
]);

/** Whether Node will load a main module from a file after the preloads. */
function hasMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined || script === '' || script === '-') return false;
  return !process.execArgv.some(a => NO_MAIN_FLAGS.has(a.split('=')[0]!));
}

function mainScripts(): string[] {
  const script = process.argv[1];
  if (script === undefined || script === '') return [];
  try {
    const real = realpathSync(script);
    return real === script ? [script] : [script, real];
  } catch {
    return [script];
  }
}

// Dev note: Node evaluates an ESM entry after the preload's first macrotasks may have run,
// so for ESM entries the end of the main module is signalled by a marker (esm-entry-hook.ts).
function esmEntryUrl(scripts: readonly string[]): string | undefined {
  const real = scripts[scripts.length - 1];
  if (real === undefined || !existsSync(real)) return undefined;
  const ext = extname(real);
  if (ext === '.mjs') return pathToFileURL(real).href;
  if (ext !== '.js') return undefined;
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const type = (
          JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }
        ).type;
        return type === 'module' ? pathToFileURL(real).href : undefined;
      } catch {
        return undefined;
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function createPreloadMatcher(selfUrl: string): (specifier: string) => boolean {
  // Our doors: register.js (--import) and its CommonJS sibling register.cjs (--require), and in
  // the agent directory (scripts/build-agent.mjs) the two autoinstrumentation files beside
  // forksafe/, which the Operator and the Injector name.
  const doors = new Set<string>();
  const self = fileURLToPath(selfUrl);
  for (const path of [
    self,
    self.replace(/\.js$/, '.cjs'),
    join(dirname(self), '..', 'autoinstrumentation.js'),
    join(dirname(self), '..', 'autoinstrumentation.mjs'),
  ]) {
    doors.add(path);
    try {
      doors.add(realpathSync(path));
    } catch {
      // keep the plain path
    }
  }
  return specifier => {
    if (specifier === 'otel-forksafe/register' || specifier === selfUrl)
      return true;
    try {
      const path = specifier.startsWith('file:')
        ? fileURLToPath(specifier)
        : isAbsolute(specifier) || specifier.startsWith('.')
          ? resolve(specifier)
          : undefined;
      if (path === undefined) return false;
      return doors.has(path) || doors.has(realpathSync(path));
    } catch {
      return false;
    }
  };
}

/**
 * Runs the preload's work for this process. May throw; preload.ts catches and reports.
 */
export function bootstrap(state: ForksafeGlobalState, selfUrl: string): void {
  const config = readConfig();
  configureDiag({ level: config.logLevel });

  const scripts = mainScripts();
  const marker = config.worker;
  // The marker our fork patch gives a worker, trusted only from its own parent.
  const isOurWorker =
    marker !== undefined && marker.primaryPid === process.ppid;
  const { role, tool } = classifyProcess({
    disabled: config.disabled,
    isMainThread,
    // What node:cluster's isWorker says, without loading it (~7 ms) in every process.
    isClusterWorker: process.env.NODE_UNIQUE_ID !== undefined,
    hasWorkerMarker: isOurWorker,
    mainScripts: scripts,
    exclude: config.exclude,
  });
  const setRole = (next: ProcessRole): void => {
    state.role = next;
    setDiagRole(next);
  };
  setRole(role);
  log.debug(
    `otel-forksafe ${VERSION} node ${process.version} pid ${process.pid} ppid ${process.ppid} role ${role}${tool === undefined ? '' : ` (${tool})`} config ${describeConfig(config)}`
  );
  if (role === 'thread' && config.threads === 'export') {
    startThread(config, selfUrl);
    return;
  }
  if (role === 'disabled' || role === 'thread' || role === 'excluded') return;

  const digest = problemsDigest(config.problems);
  // A worker forked by our patch inherits its primary's environment: the primary has already
  // reported these problems once, so the worker stays quiet about them.
  if (
    process.env[WORKER_MARKER_VARS.reported] !== digest ||
    role !== 'worker'
  ) {
    for (const problem of config.problems) log.warn(problem);
  }
  const configuredId = config.resourceAttributes['service.instance.id'];
  // pm2's variables are inherited by every child of a pm2 app: only its container uses them.
  const pm2 = scripts.some(isPm2AppContainer) ? config.pm2 : undefined;
  // Children started from here load the preload and continue the active trace.
  patchChildProcessWhenLoaded(selfUrl);

  let worker: ProcessIdentity | undefined;
  if (role === 'worker') {
    // Dev note: served from the bundle when the first OpenTelemetry package is asked for (by
    // an instrumentation loading, the app, or the SDK), not before the app's first line: a
    // worker that records nothing never reads it.
    beforeFirstResolve('@opentelemetry/', () => {
      const served = preloadSharedDeps(
        new URL('../loading/otel-deps.bundle.cjs', import.meta.url),
        file => loadOurBundle(file, config)
      );
      if (served.length > 0)
        log.debug(`served from the bundle: ${served.join(', ')}`);
    });
    // A pm2 cluster instance is keyed to pm2's instance number (pm2's daemon is excluded).
    worker = pm2
      ? pm2Identity({
          pm2,
          configuredId,
          clusterWorkerId: clusterModule().worker?.id,
          pid: process.pid,
          ppid: process.ppid,
        })
      : workerIdentity({
          marker: isOurWorker ? marker : undefined,
          clusterWorkerId: clusterModule().worker?.id,
          configuredId,
          pid: process.pid,
          ppid: process.ppid,
        });
    reportDerivedId(worker);
  }

  startDeferred({
    config,
    state,
    setRole,
    scripts,
    selfUrl,
    digest,
    configuredId,
    pm2,
    worker,
    // A primary of ours serves the endpoint; otherwise (pm2) the processes share it.
    prometheusPart:
      role !== 'worker'
        ? pm2
          ? 'share'
          : 'alone'
        : isOurWorker
          ? 'answer-primary'
          : 'share',
  });
}

// OTEL_FORKSAFE_THREADS=export: a worker thread exports under its process's identity.
function startThread(config: ForksafeConfig, selfUrl: string): void {
  const identity = threadIdentity();
  if (identity === undefined) {
    log.debug(
      'no identity published by the main thread (a primary or a tool): dormant'
    );
    return;
  }
  connectApiDiag(config);
  patchChildProcessWhenLoaded(selfUrl);
  const lazy = startLazyInstrumentations(config.instrumentations);
  lazy.loadUnhooked();
  const sdk = startSdk(config, { identity, instrumentations: lazy.loaded });
  installShutdown(sdk, config);
  log.debug(
    `SDK started: thread of service.instance.id=${identity.instanceId}`
  );
}

function reportDerivedId(identity: ProcessIdentity): void {
  if (identity.derivedFrom !== undefined) {
    log.debug(
      `service.instance.id=${identity.derivedFrom} from OTEL_RESOURCE_ATTRIBUTES is shared by every worker; this worker reports ${identity.instanceId}`
    );
  }
}

interface DeferredContext {
  config: ForksafeConfig;
  state: ForksafeGlobalState;
  setRole: (role: ProcessRole) => void;
  scripts: readonly string[];
  selfUrl: string;
  digest: string;
  configuredId: string | undefined;
  pm2: Pm2Process | undefined;
  /** A cluster worker's identity; undefined for a process that may still fork (undecided). */
  worker: ProcessIdentity | undefined;
  /** This process's part in a Prometheus endpoint, once it exports (src/prometheus/). */
  prometheusPart: PrometheusPart;
}

// Dev note: a process that ends within this long of its main module's first run, having
// recorded nothing of its own (no span, no measurement), never starts the SDK: a script, a CLI
// or a test runner started with the preload in NODE_OPTIONS sends nothing, prints nothing and
// takes no longer. A server is still running by then and starts it.
const IDLE_START_MILLIS = 1000;

// Every process that may export: a cluster worker, or a main-thread process that is not one
// (primary if it forks, standalone if it does not). Instrumentations load as their modules do
// from the start; the SDK starts at the first span or measurement of the process (made through
// the deferred providers), or IDLE_START_MILLIS after the main module ran, whichever comes
// first. A process that forks first becomes a primary and never starts it.
function startDeferred(ctx: DeferredContext): void {
  const { config, state, setRole } = ctx;
  const exportRole: ProcessRole = ctx.worker ? 'worker' : 'standalone';
  let phase: 'waiting' | 'exporting' | 'primary' = 'waiting';
  let sdk: SdkHandle | undefined;
  let mainRan = false;
  let measuredEarly = false;
  const modules = hookedModules(config.instrumentations);
  const entryUrl = esmEntryUrl(ctx.scripts);
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
      require('../instrumentation/early-providers.js') as typeof DeferredExports;
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
    if (phase === 'waiting') ensureDeferred();
  };
  const lazy: LazyInstrumentations = startLazyInstrumentations(
    config.instrumentations,
    { onApiLoaded, onMainLoaded: () => onMainLoaded?.() }
  );
  state.esmModuleLoading = url => lazy.esmModuleLoading(url);
  // Drawn now so that threads started before the SDK already know it.
  const identity =
    ctx.worker ??
    (ctx.pm2
      ? pm2Identity({
          pm2: ctx.pm2,
          configuredId: ctx.configuredId,
          clusterWorkerId: undefined,
          pid: process.pid,
          ppid: process.ppid,
        })
      : standaloneIdentity({
          configuredId: ctx.configuredId,
          pid: process.pid,
          ppid: process.ppid,
        }));
  if (config.threads === 'export') publishThreadIdentity(identity);
  // Dev note: the ESM loader hooks cost time at every import; a CommonJS entry is covered by
  // the require hook alone.
  if (entryUrl !== undefined) registerImportHook(modules);
  lazy.loadEager();

  const startExporting = (reason: string): void => {
    if (phase !== 'waiting') return;
    phase = 'exporting';
    setRole(exportRole);
    const { tracerProvider, meterProvider } = ensureDeferred();
    lazy.loadUnhooked();
    const started = startSdk(config, {
      identity,
      instrumentations: lazy.loaded,
      deferred: { tracerProvider, meterProvider },
    });
    // Dev note: nothing may ask the SDK's providers for a meter or logger once it shuts down
    // (they refuse with a warning): no instrumentation is constructed from then on, and meters
    // asked for from then on are no-ops.
    sdk = {
      ...started,
      shutdown: () => {
        lazy.freeze();
        meterProvider.close();
        return started.shutdown();
      },
    };
    installShutdown(sdk, config, {
      supervisorKillMillis: ctx.pm2?.killTimeoutMillis,
    });
    log.debug(
      ctx.worker
        ? `SDK started: worker service.instance.id=${identity.instanceId} (${reason})`
        : `SDK started: standalone (${reason})`
    );
    startPrometheus(ctx.prometheusPart, config, sdk);
  };
  const settle = (reason: string): void => {
    try {
      startExporting(reason);
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
    if (phase !== 'waiting') return;
    if (measuredEarly) {
      settle(`${reason}, measurements recorded`);
      return;
    }
    setTimeout(
      () => settle(`running ${IDLE_START_MILLIS} ms after the main module`),
      IDLE_START_MILLIS
    ).unref();
  };

  if (ctx.worker === undefined) {
    let prometheus: PrimaryEndpoint | undefined;
    const becomePrimary = (): void => {
      if (phase === 'primary') return;
      const was = phase;
      phase = 'primary';
      setRole('primary');
      prometheus = startPrimaryPrometheus(config);
      lazy.stop();
      if (config.threads === 'export') publishThreadIdentity(undefined);
      if (was === 'waiting') {
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
      try {
        patchClusterFork(clusterModule(), {
          preloadUrl: ctx.selfUrl,
          isOurPreload: createPreloadMatcher(ctx.selfUrl),
          instanceBase: ctx.configuredId ?? randomUuid(),
          reportedDigest: ctx.digest,
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

  if (entryUrl !== undefined) {
    registerEntryMarker(entryUrl);
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
