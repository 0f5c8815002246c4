// worker_threads in OTEL_FORKSAFE_THREADS=export mode: the main thread publishes its process
// identity to the threads it starts (worker_threads environment data), and a thread that finds
// it starts an SDK of its own that exports under that identity with thread.id added.
import type * as WorkerThreads from 'node:worker_threads';
import type { ProcessIdentity } from './process-identity.ts';

// Dev note: node:worker_threads is not in Node's start-up snapshot (~4 ms to load): taken only
// with OTEL_FORKSAFE_THREADS=export, when these are called.
const workerThreads = (): typeof WorkerThreads =>
  process.getBuiltinModule('node:worker_threads');

/**
 * Whether this is a worker thread, without loading node:worker_threads: Node replaces
 * process.chdir in worker threads by a stub that throws, marked `disabled` (every supported
 * line; checked against isMainThread by test/identity/threads.test.ts).
 */
export function isWorkerThread(): boolean {
  return (process.chdir as { disabled?: unknown }).disabled === true;
}

// Dev note: environment data is copied into every Worker at construction, from the thread
// that constructs it, so it reaches Piscina's threads and nested threads without touching
// process.env or the app's workerData.
const KEY = 'otel-forksafe.thread-identity';

/** Resource attribute naming the thread (semantic conventions: `thread.id`). */
export const ATTR_THREAD_ID = 'thread.id';

interface PublishedIdentity {
  readonly instanceId: string;
  readonly attributes: Readonly<Record<string, string | number>>;
}

/**
 * Main thread: tells threads started from now on which identity to export under, or (with
 * `undefined`, in a primary) that they must stay dormant.
 */
export function publishThreadIdentity(
  identity: ProcessIdentity | undefined
): void {
  // Dev note: a value of undefined deletes the key, so "dormant" is published as false.
  const value: PublishedIdentity | false = identity
    ? {
        instanceId: identity.instanceId,
        attributes: { ...identity.attributes },
      }
    : false;
  workerThreads().setEnvironmentData(KEY, value);
}

/**
 * In a thread: the identity its process published, with this thread's `thread.id` added;
 * undefined when the process published none (threads stay dormant).
 */
export function threadIdentity(): ProcessIdentity | undefined {
  const { getEnvironmentData, threadId } = workerThreads();
  const value = getEnvironmentData(KEY) as
    PublishedIdentity | false | undefined;
  if (!value || typeof value !== 'object') return undefined;
  return {
    instanceId: value.instanceId,
    attributes: { ...value.attributes, [ATTR_THREAD_ID]: threadId },
  };
}
