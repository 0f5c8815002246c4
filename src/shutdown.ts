// Delivery at the end of a process, without changing how the process ends.
//
// | how the process ends                         | what we do                                   |
// | -------------------------------------------- | -------------------------------------------- |
// | SIGTERM/SIGINT/SIGHUP/SIGUSR2, no app handler | flush (bounded), then re-raise the signal:   |
// |                                              | the process dies of it, as Node would have   |
// |                                              | made it die                                  |
// | the same signals, app has a handler          | flush alongside; the app keeps control       |
// | natural end (beforeExit), worker.disconnect() | shut the SDK down (bounded); exit as before  |
// | process.exit(n), uncaught exception,         | synchronous flush (sync-flush.ts), bounded;  |
// | unhandled rejection, cluster worker orphaned | the exit status is untouched                 |
//
// Every wait is bounded by OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS, measured from the moment the
// process started to end: a dead or black-holed collector costs at most that, once.
// Our listeners are hidden from process.listenerCount() and friends (hidden-listeners.ts), and
// the signal listener runs before the app's, so it sees whether the app has a handler of its
// own before any `once` handler removes itself.
import type { ForksafeConfig } from './config.ts';
import { log } from './diag.ts';
import {
  addHiddenListener,
  appListenerCount,
  removeHiddenListener,
} from './hidden-listeners.ts';
import type { SdkHandle } from './sdk.ts';

/** The signals that end a process by default and that supervisors use to stop or restart. */
export const SHUTDOWN_SIGNALS = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGUSR2',
] as const satisfies readonly NodeJS.Signals[];

type Outcome = 'done' | 'timeout';

/**
 * The flush bound: OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS, but finished before a supervisor's
 * SIGKILL when we know its delay (pm2's kill_timeout, 1.6 s by default), so the process still
 * dies of its signal and not of SIGKILL half-way through the flush.
 */
export function boundFor(
  configured: number,
  supervisorKillMillis: number | undefined
): number {
  if (supervisorKillMillis === undefined || supervisorKillMillis <= 0)
    return configured;
  return Math.min(configured, Math.max(100, supervisorKillMillis - 300));
}

/**
 * Installs the end-of-process delivery for a process that runs the SDK. Called once, on the
 * main thread, right after the SDK started.
 */
export function installShutdown(
  sdk: SdkHandle,
  config: ForksafeConfig,
  options: { supervisorKillMillis?: number | undefined } = {}
): void {
  const timeoutMillis = boundFor(
    config.shutdownTimeoutMillis,
    options.supervisorKillMillis
  );
  /** When the process started to end: every wait after that shares one bound. */
  let deadline: number | undefined;
  let timedOut = false;
  let ending: Promise<Outcome> | undefined;
  /** The signal we re-raise once the flush ends (the app has no handler for it). */
  let dyingOf: NodeJS.Signals | undefined;

  const remaining = (): number => {
    deadline ??= performance.now() + timeoutMillis;
    return Math.max(0, deadline - performance.now());
  };

  // Runs `work` at most until the deadline. `keepAlive` holds the event loop open until then
  // (needed when we must act afterwards, such as re-raising a signal).
  const bounded = (
    work: () => Promise<void>,
    keepAlive: boolean
  ): Promise<Outcome> =>
    new Promise<Outcome>(resolve => {
      const timer = setTimeout(() => resolve('timeout'), remaining());
      if (!keepAlive) timer.unref();
      void work().then(() => {
        clearTimeout(timer);
        resolve('done');
      });
    }).then(outcome => {
      if (outcome === 'timeout' && !timedOut) {
        timedOut = true;
        log.warn(
          `telemetry not delivered within OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS=${timeoutMillis}; the process ends without it`
        );
      }
      return outcome;
    });

  // Sends synchronously what is still pending, within what is left of the bound. Right after
  // a completed flush the metrics were just exported and are left out.
  const flushNow = (metrics = true): void => {
    if (timedOut) return;
    const budget = remaining();
    const result = budget > 0 ? sdk.flushSync(budget, { metrics }) : undefined;
    if (result === undefined) return;
    const what = `${result.spans} spans, ${result.metricPoints} metric points, ${result.logRecords} log records`;
    if (
      result.failed > 0 ||
      result.unanswered > 0 ||
      result.errors.length > 0
    ) {
      timedOut = result.unanswered > 0;
      const cause =
        result.errors.length > 0
          ? result.errors.join('; ')
          : `no answer within ${Math.round(budget)} ms`;
      log.warn(`telemetry pending at exit (${what}) not delivered: ${cause}`);
    } else if (result.ok > 0) {
      log.debug(`delivered at exit: ${what} in ${result.millis.toFixed(1)} ms`);
    }
  };

  const die = (signal: NodeJS.Signals): void => {
    for (const s of SHUTDOWN_SIGNALS) removeHiddenListener(s, onSignal[s]);
    removeHiddenListener('exit', onExit);
    // With no listener left, Node restores the default action: the process dies of the
    // signal (status 128+n in a shell), exactly as it would have without us.
    process.kill(process.pid, signal);
  };

  const onSignal = {} as Record<NodeJS.Signals, () => void>;
  for (const signal of SHUTDOWN_SIGNALS) {
    onSignal[signal] = () => {
      if (appListenerCount(signal) > 0) {
        // The app decides what this signal means; we make sure nothing stays queued. No
        // bound starts here: the app may take its time before it ends.
        void sdk.forceFlush();
        return;
      }
      // Dev note: a repeat while we flush is ignored (the flush is bounded anyway): nodemon
      // sends its restart signal twice, and dying at the second would lose the flush.
      if (dyingOf !== undefined) return;
      dyingOf = signal;
      // Dev note: a flush, not a shutdown: requests still in progress keep ending spans while
      // it runs, and the synchronous flush right before the signal is re-raised takes those.
      void bounded(() => sdk.forceFlush(), true).then(() => {
        flushNow(false);
        die(signal);
      });
    };
    addHiddenListener(signal, onSignal[signal]);
  }

  // A natural end (also a worker after worker.disconnect()): beforeExit fires when the loop is
  // empty; the shutdown keeps it alive. Should the bound pass with the collector still holding
  // a socket open, exit with the status the app chose.
  const onBeforeExit = (): void => {
    if (ending !== undefined || dyingOf !== undefined) return;
    ending = bounded(() => sdk.shutdown(), false);
    void ending.then(outcome => {
      // eslint-disable-next-line n/no-process-exit -- only our own sockets hold the loop open
      if (outcome === 'timeout') process.exit();
    });
  };
  addHiddenListener('beforeExit', onBeforeExit);

  // Exits that cannot await (process.exit, uncaught exception, unhandled rejection, a cluster
  // worker orphaned by its primary): send synchronously what is still pending.
  const onExit = (): void => {
    flushNow();
    // Orphaned while dying of a signal (the primary died first and the cluster worker exits
    // with 0): end the way the signal would have ended it.
    if (dyingOf !== undefined) die(dyingOf);
  };
  addHiddenListener('exit', onExit);
}
