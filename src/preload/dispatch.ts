// The role table of DESIGN.md as code: what the preload does in each kind of process. Called
// once per process by src/preload/start.ts.
//
//   role        what the preload does
//   disabled    nothing (OTEL_SDK_DISABLED=true)
//   excluded    nothing: a tool (npm, a test runner, a build tool; OTEL_FORKSAFE_EXCLUDE)
//   thread      nothing; with OTEL_FORKSAFE_THREADS=export, exports under its process's identity
//   worker      exports under its worker identity, from its first span or measurement
//   undecided   patches cluster.fork: the first fork makes it a primary (no SDK, ever);
//               otherwise it exports as a standalone app, like a worker
import type * as ChildProcessModule from 'node:child_process';
import { createRequire } from 'node:module';
import { describeConfig } from '../config/redact.ts';
import { readConfig } from '../config/read-config.ts';
import type { ForksafeConfig } from '../config/types.ts';
import { WORKER_MARKER_VARS } from '../config/vars.ts';
import { configureDiag, log, setDiagRole } from '../diag.ts';
import { pickIdentity } from '../identity/pick.ts';
import { digest, randomUuid } from '../identity/random-id.ts';
import { isWorkerThread, threadIdentity } from '../identity/threads.ts';
import { startLazyInstrumentations } from '../instrumentation/lazy.ts';
import {
  beforeFirstResolve,
  watchBuiltins,
} from '../instrumentation/load-hook.ts';
import { preloadSharedDeps } from '../loading/shared-deps.ts';
import { patchChildProcess } from '../patches/child-process.ts';
import { createPreloadMatcher } from '../patches/preload-matcher.ts';
import { VERSION } from '../version.ts';
import {
  classifyProcess,
  isPm2AppContainer,
  type ProcessRole,
} from './classify.ts';
import { exportHere } from './export-here.ts';
import { esmEntryUrl, mainScripts } from './facts.ts';
import type { ForksafeGlobalState } from './global-state.ts';
import { clusterModule, loadOurBundle } from './load.ts';
import { startUndecided } from './undecided.ts';

const require = createRequire(import.meta.url);

/** Runs the preload's work for this process. May throw; start.ts catches and reports. */
export function dispatch(state: ForksafeGlobalState, selfUrl: string): void {
  const config = readConfig();
  configureDiag({ level: config.logLevel });

  const scripts = mainScripts();
  const marker = config.worker;
  // The marker our fork patch gives a worker, trusted only from its own parent.
  const isOurWorker =
    marker !== undefined && marker.primaryPid === process.ppid;
  const { role, tool } = classifyProcess({
    disabled: config.disabled,
    isMainThread: !isWorkerThread(),
    // What node:cluster's isWorker says, without loading it (~7 ms) in every process.
    isClusterWorker: process.env.NODE_UNIQUE_ID !== undefined,
    hasWorkerMarker: isOurWorker,
    mainScripts: scripts,
    exclude: config.exclude,
  });
  // The one writer of the role: the global slot (other copies of us) and our log lines.
  const setRole = (next: ProcessRole): void => {
    state.role = next;
    setDiagRole(next);
  };
  setRole(role);
  log.debug(
    `otel-forksafe ${VERSION} node ${process.version} pid ${process.pid} ppid ${process.ppid} role ${role}${tool === undefined ? '' : ` (${tool})`} config ${describeConfig(config)}`
  );
  if (role === 'disabled' || role === 'excluded') return;
  const isOurPreload = createPreloadMatcher(selfUrl);
  if (role === 'thread') {
    if (config.threads === 'export')
      exportFromThread(config, selfUrl, isOurPreload);
    return;
  }

  const problems = digest(config.problems.join('\n'));
  // A worker forked by our patch inherits its primary's environment: the primary has already
  // reported these problems once, so the worker stays quiet about them.
  if (
    process.env[WORKER_MARKER_VARS.reported] !== problems ||
    role !== 'worker'
  ) {
    for (const problem of config.problems) log.warn(problem);
  }
  const configuredId = config.resourceAttributes['service.instance.id'];
  // pm2's variables are inherited by every child of a pm2 app: only its container uses them.
  const pm2 = scripts.some(isPm2AppContainer) ? config.pm2 : undefined;
  patchChildProcessWhenLoaded(selfUrl, isOurPreload);
  const isWorker = role === 'worker';
  if (isWorker) serveSharedDepsFromBundle(config);
  const identity = pickIdentity({
    isWorker,
    pm2,
    marker: isOurWorker ? marker : undefined,
    clusterWorkerId: () => clusterModule().worker?.id,
    configuredId,
  });
  if (identity.derivedFrom !== undefined) {
    log.debug(
      `service.instance.id=${identity.derivedFrom} from OTEL_RESOURCE_ATTRIBUTES is shared by every worker; this worker reports ${identity.instanceId}`
    );
  }
  startUndecided({
    config,
    state,
    setRole,
    entryUrl: esmEntryUrl(scripts),
    identity,
    isWorker,
    ...(!isWorker && {
      fork: {
        preloadUrl: selfUrl,
        isOurPreload,
        instanceBase: configuredId ?? randomUuid(),
        reportedDigest: problems,
      },
    }),
    // A primary of ours serves the endpoint; otherwise (pm2) the processes share it.
    prometheusPart: !isWorker
      ? pm2
        ? 'share'
        : 'alone'
      : isOurWorker
        ? 'answer-primary'
        : 'share',
    supervisorKillMillis: pm2?.killTimeoutMillis,
  });
}

// OTEL_FORKSAFE_THREADS=export: a worker thread exports under its process's identity.
function exportFromThread(
  config: ForksafeConfig,
  selfUrl: string,
  isOurPreload: (specifier: string) => boolean
): void {
  const identity = threadIdentity();
  if (identity === undefined) {
    log.debug(
      'no identity published by the main thread (a primary or a tool): dormant'
    );
    return;
  }
  patchChildProcessWhenLoaded(selfUrl, isOurPreload);
  exportHere({
    config,
    identity,
    lazy: startLazyInstrumentations(config.instrumentations),
  });
  log.debug(
    `SDK started: thread of service.instance.id=${identity.instanceId}`
  );
}

// Children started from here load the preload and continue the active trace: node:child_process
// is patched when the app first loads it.
function patchChildProcessWhenLoaded(
  selfUrl: string,
  isOurPreload: (specifier: string) => boolean
): void {
  watchBuiltins(['child_process'], () => {
    try {
      patchChildProcess(
        require('node:child_process') as typeof ChildProcessModule,
        { preloadUrl: selfUrl, isOurPreload }
      );
    } catch (err) {
      log.error(
        'could not patch node:child_process; children start without the preload',
        err
      );
    }
  });
}

// Dev note: served from the bundle when the first OpenTelemetry package is asked for (by an
// instrumentation loading, the app, or the SDK), not before the app's first line: a worker
// that records nothing never reads it. Only in workers: an undecided process may turn out to
// be a primary, which must not read or write the bundle's code cache.
function serveSharedDepsFromBundle(config: ForksafeConfig): void {
  beforeFirstResolve('@opentelemetry/', () => {
    const served = preloadSharedDeps(
      new URL('../loading/otel-deps.bundle.cjs', import.meta.url),
      file => loadOurBundle(file, config)
    );
    if (served.length > 0)
      log.debug(`served from the bundle: ${served.join(', ')}`);
  });
}
