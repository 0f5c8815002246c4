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
// process started to end: a dead or black-holed collector costs at most that, once. While the
// process runs, nothing of ours holds its event loop (src/otlp/transport.ts, detached-exporter.ts),
// so its natural end comes when the app is done, not when our exports are. What could not be
// delivered is said in one line at the very end: `N spans, M metric points not delivered: …`.
// Our listeners are hidden from process.listenerCount() and friends (hidden-listeners.ts), and
// the signal listener runs before the app's, so it sees whether the app has a handler of its
// own before any `once` handler removes itself.
import type { ForksafeConfig } from '../config/types.ts';
import { log } from '../diag.ts';
import {
  addHiddenListener,
  appListenerCount,
  removeHiddenListener,
} from '../patches/hidden-listeners.ts';
import type { SdkHandle, TelemetryCounts } from '../sdk/start.ts';
import type { SyncFlushResult } from './sync-flush.ts';
import { SHUTDOWN_SIGNALS } from '../config/vars.ts';

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
  /** The exit-time flush's outcome, if one ran. */
  let sync: SyncFlushResult | undefined;
  let reported = false;

  /** What was already lost when the process started to end (reported as it happened). */
  let lostBefore: TelemetryCounts | undefined;
  const remaining = (): number => {
    if (deadline === undefined) {
      deadline = performance.now() + timeoutMillis;
      lostBefore = sdk.undelivered().lost;
    }
    return Math.max(0, deadline - performance.now());
  };

  // Runs `work` at most until the deadline. `keepAlive` holds the event loop open until then
  // (our own sockets and timers never do, see src/otlp/transport.ts). When the bound is up, every
  // export still in flight is cancelled: nothing of ours outlives it.
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
        sdk.abort(
          `cancelled: OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS=${timeoutMillis} passed`
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
    sync = result;
    if (result.unanswered > 0) timedOut = true;
    if (result.ok > 0 && result.failed === 0 && result.unanswered === 0) {
      log.debug(
        `delivered at exit: ${result.spans} spans, ${result.metricPoints} metric points, ${result.logRecords} log records in ${result.millis.toFixed(1)} ms`
      );
    }
  };

  // The one line about what this process could not deliver, at its very end. Silent when
  // everything arrived.
  const report = (): void => {
    if (reported) return;
    reported = true;
    remaining();
    const u = sdk.undelivered();
    // Exports that failed while the process ran were said as they failed (one line per
    // cause); this line counts what the end could not deliver.
    const lost = {
      spans: u.lost.spans - (lostBefore?.spans ?? 0),
      metricPoints: u.lost.metricPoints - (lostBefore?.metricPoints ?? 0),
      logRecords: u.lost.logRecords - (lostBefore?.logRecords ?? 0),
    };
    // What the exit-time flush sent is delivered; if any of its requests failed, count all.
    const syncSent =
      sync !== undefined &&
      sync.ok > 0 &&
      sync.failed === 0 &&
      sync.unanswered === 0 &&
      sync.errors.length === 0;
    const spans = (syncSent ? 0 : u.pending.spans) + lost.spans;
    // The exit-time flush collects the metric instruments afresh: its count replaces the
    // queue's.
    const points =
      lost.metricPoints +
      (sync === undefined
        ? u.pending.metricPoints
        : syncSent
          ? 0
          : sync.metricPoints);
    const logs = (syncSent ? 0 : u.pending.logRecords) + lost.logRecords;
    if (spans === 0 && points === 0 && logs === 0) return;
    const causes: string[] = [];
    if (timedOut)
      causes.push(
        `no answer within OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS=${timeoutMillis}`
      );
    if (sync !== undefined && sync.errors.length > 0 && !timedOut)
      causes.push(sync.errors[0] ?? '');
    if (u.cause !== undefined)
      causes.push(timedOut ? `last error: ${u.cause}` : u.cause);
    if (causes.length === 0) causes.push('the process ended first');
    log.warn(
      `${spans} spans, ${points} metric points${logs > 0 ? `, ${logs} log records` : ''} not delivered: ${causes.join('; ')}`
    );
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
        // bound starts here: the app may take its time before it ends, and the flush holds
        // nothing open (it ends by beforeExit or exit like any other end).
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
        report();
        die(signal);
      });
    };
    addHiddenListener(signal, onSignal[signal]);
  }

  // A natural end (also a worker after worker.disconnect(), or an app that handled a signal
  // and closed everything): beforeExit fires once the app's own work is done, whatever our
  // exports are doing, because nothing of ours holds the loop. The shutdown then holds it,
  // within the bound; at the bound our exports are cancelled and the process ends by itself,
  // with the status the app chose. Work the app starts later (its own beforeExit handlers)
  // is never cut short: no process.exit() here.
  const onBeforeExit = (): void => {
    if (ending !== undefined || dyingOf !== undefined) return;
    ending = bounded(() => sdk.shutdown(), true);
  };
  addHiddenListener('beforeExit', onBeforeExit);

  // Exits that cannot await (process.exit, uncaught exception, unhandled rejection, a cluster
  // worker orphaned by its primary): send synchronously what is still pending.
  const onExit = (): void => {
    flushNow();
    report();
    // Orphaned while dying of a signal (the primary died first and the cluster worker exits
    // with 0): end the way the signal would have ended it.
    if (dyingOf !== undefined) die(dyingOf);
  };
  addHiddenListener('exit', onExit);
}
