// Wraps cluster.fork() in a process that may be a cluster primary: the first fork makes it a
// primary, and every fork hands the worker its slot and makes sure it loads the preload.
import type { Cluster, Worker } from 'node:cluster';
import { WORKER_MARKER_VARS } from '../config/vars.ts';
import {
  appendImportToNodeOptions,
  preloadSpecifiers,
  tokenizeNodeOptions,
} from './node-options.ts';

const PATCHED = Symbol.for('otel-forksafe.cluster-fork');

type ForkFn = Cluster['fork'] & { [PATCHED]?: true };

/** What the patch needs from the preload. */
export interface ForkPatchOptions {
  /** `--import` value that loads this preload (the file URL of register.js). */
  readonly preloadUrl: string;
  /** True when an --import/--require specifier names our preload. */
  readonly isOurPreload: (specifier: string) => boolean;
  /** Base of the workers' service.instance.id. */
  readonly instanceBase: string;
  /** Digest of the configuration problems already reported by this process. */
  readonly reportedDigest: string;
  /** Called synchronously before each fork (the first call makes the process a primary). */
  readonly beforeFork: () => void;
  /** Called with each worker just forked (the Prometheus endpoint follows it). */
  readonly afterFork?: (worker: Worker) => void;
}

/**
 * Wraps `cluster.fork` once (idempotent across copies of the preload). Returns an undo
 * function for tests. Never throws from the wrapper: if our part fails, the app's fork still runs.
 */
export function patchClusterFork(
  cluster: Cluster,
  options: ForkPatchOptions
): () => void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(this) below
  const original = cluster.fork as ForkFn;
  if (original[PATCHED]) return () => {};
  const liveSlots = new Map<number, Worker>();

  const lowestFreeSlot = (): number => {
    let slot = 0;
    while (liveSlots.has(slot)) slot++;
    return slot;
  };

  // Dev note: cluster.fork() merges {...process.env, ...env} for the child, and its execArgv
  // comes from cluster.settings (set by setupPrimary) or else process.execArgv. The preload
  // reaches the worker if either carries it; otherwise we add it to the child's NODE_OPTIONS.
  const preloadReachesWorker = (env: NodeJS.ProcessEnv): boolean => {
    const execArgv = cluster.settings.execArgv ?? process.execArgv;
    const nodeOptions = env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? '';
    return [
      ...preloadSpecifiers(execArgv),
      ...preloadSpecifiers(tokenizeNodeOptions(nodeOptions)),
    ].some(options.isOurPreload);
  };

  const patched = function fork(
    this: Cluster,
    env?: NodeJS.ProcessEnv
  ): Worker {
    let childEnv = env;
    let slot: number | undefined;
    try {
      options.beforeFork();
      slot = lowestFreeSlot();
      const extra: NodeJS.ProcessEnv = {
        [WORKER_MARKER_VARS.slot]: String(slot),
        [WORKER_MARKER_VARS.primaryPid]: String(process.pid),
        [WORKER_MARKER_VARS.instanceBase]: options.instanceBase,
        [WORKER_MARKER_VARS.reported]: options.reportedDigest,
      };
      if (!preloadReachesWorker(env ?? {})) {
        extra.NODE_OPTIONS = appendImportToNodeOptions(
          env?.NODE_OPTIONS ?? process.env.NODE_OPTIONS,
          options.preloadUrl,
          options.isOurPreload
        );
      }
      childEnv = { ...env, ...extra };
    } catch {
      // Never break the app's fork because of ours.
      childEnv = env;
      slot = undefined;
    }
    const worker = original.call(this, childEnv);
    if (slot !== undefined) {
      const taken = slot;
      liveSlots.set(taken, worker);
      // Dev note: the worker's own 'exit' and 'disconnect' fire before cluster's, so a
      // replacement forked from the app's cluster.on('exit') handler gets this slot back.
      // The slot is freed at the first of the two: throng (and other supervisors) revive a
      // worker on 'disconnect', which comes before 'exit'. The old process may live on a
      // moment after disconnecting (flushing), sharing the id with its replacement.
      const release = (): void => {
        if (liveSlots.get(taken) === worker) liveSlots.delete(taken);
      };
      worker.once('disconnect', release);
      worker.once('exit', release);
      try {
        options.afterFork?.(worker);
      } catch {
        // Never break the app's fork because of ours.
      }
    }
    return worker;
  } as ForkFn;
  patched[PATCHED] = true;
  cluster.fork = patched;
  return () => {
    if (cluster.fork === patched) cluster.fork = original;
  };
}
