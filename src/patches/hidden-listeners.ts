// Process listeners the application cannot see. Our shutdown listens for signals, beforeExit
// and exit, but an app (or a library such as a graceful-shutdown helper) that asks
// process.listenerCount('SIGTERM') must get the answer it would get uninstrumented.
//
// Dev note: Node itself calls process.listenerCount(signal) after every removeListener to
// decide whether to stop watching a signal. With our listener hidden, removing the app's last
// handler makes Node stop watching, and the signal's default action would come back without
// our flush. We re-arm: remove and re-add our listener, which makes Node watch again.
import type { EventEmitter } from 'node:events';

type Listener = (...args: unknown[]) => void;

// process as the plain emitter it is: listeners keyed by any event name.
const emitter = process as unknown as EventEmitter;

const hidden = new Map<string | symbol, Set<Listener>>();
let patched = false;
let rearming = false;

type ProcessEvents = Pick<
  EventEmitter,
  'listenerCount' | 'listeners' | 'rawListeners'
>;

function isHidden(event: string | symbol, fn: unknown): boolean {
  const set = hidden.get(event);
  if (set === undefined) return false;
  for (const ours of set) {
    if (fn === ours) return true;
    // once() wrappers expose the original as .listener
    if ((fn as { listener?: unknown } | null)?.listener === ours) return true;
  }
  return false;
}

function patchProcess(): void {
  if (patched) return;
  patched = true;
  const proc: ProcessEvents = emitter;
  const rawListeners = proc.rawListeners.bind(process);
  const listeners = proc.listeners.bind(process);
  const listenerCount = proc.listenerCount.bind(process);
  const define = (name: keyof ProcessEvents, value: unknown): void => {
    Object.defineProperty(process, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  };
  define('rawListeners', function (event: string | symbol) {
    const all = rawListeners(event);
    return hidden.has(event) ? all.filter(fn => !isHidden(event, fn)) : all;
  });
  define('listeners', function (event: string | symbol) {
    const all = listeners(event);
    return hidden.has(event) ? all.filter(fn => !isHidden(event, fn)) : all;
  });
  define(
    'listenerCount',
    function (event: string | symbol, listener?: Listener) {
      if (!hidden.has(event)) return listenerCount(event, listener);
      if (listener !== undefined)
        return isHidden(event, listener) ? 0 : listenerCount(event, listener);
      return rawListeners(event).filter(fn => !isHidden(event, fn)).length;
    }
  );
  // The real rawListeners is needed for our own count, so keep a handle on it.
  realRawListeners = rawListeners;
  emitter.on('removeListener', (event: string | symbol) => {
    if (rearming || !isSignal(event)) return;
    const ours = hidden.get(event);
    if (ours === undefined || ours.size === 0) return;
    // Only our listeners left: Node may just have stopped watching the signal.
    if (realRawListeners(event).every(fn => isHidden(event, fn))) {
      rearming = true;
      try {
        for (const fn of ours) {
          emitter.removeListener(event, fn);
          emitter.prependListener(event, fn);
        }
      } finally {
        rearming = false;
      }
    }
  });
}

let realRawListeners: (event: string | symbol) => unknown[] = event =>
  emitter.rawListeners(event);

function isSignal(event: string | symbol): event is NodeJS.Signals {
  return typeof event === 'string' && event.startsWith('SIG');
}

/**
 * Adds a listener to process that listenerCount/listeners/rawListeners do not report.
 * Signal listeners are always put first, so they run before the app's own.
 */
export function addHiddenListener(event: string, fn: Listener): void {
  patchProcess();
  let set = hidden.get(event);
  if (set === undefined) hidden.set(event, (set = new Set()));
  set.add(fn);
  if (isSignal(event)) emitter.prependListener(event, fn);
  else emitter.on(event, fn);
}

/** Removes a listener added by addHiddenListener. */
export function removeHiddenListener(event: string, fn: Listener): void {
  hidden.get(event)?.delete(fn);
  rearming = true;
  try {
    emitter.removeListener(event, fn);
  } finally {
    rearming = false;
  }
}

/** Listeners for an event that are not ours: the application's own. */
export function appListenerCount(event: string): number {
  return realRawListeners(event).filter(fn => !isHidden(event, fn)).length;
}
