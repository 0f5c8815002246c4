// The process's root context from the environment: a process started with TRACEPARENT /
// TRACESTATE / BAGGAGE (by a parent that otel-forksafe instruments, or by a CI runner) makes
// that context the parent of every span it starts without an active context. Loaded by start.ts.
// Ref: https://opentelemetry.io/docs/specs/otel/context/env-carriers/
import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import {
  propagation,
  ROOT_CONTEXT,
  type Context,
  type ContextManager,
} from '@opentelemetry/api';
import { EnvironmentGetter } from '@opentelemetry/propagator-env-carrier';

// A context with nothing in it, distinct from ROOT_CONTEXT by identity: what an explicit
// `context.with(ROOT_CONTEXT, fn)` stores, so that "no context entered" stays recognisable.
const EXPLICIT_ROOT = ROOT_CONTEXT.setValue(
  Symbol('otel-forksafe explicit root'),
  true
);

type Listener = (...args: unknown[]) => unknown;
type ListenerMethod = (
  this: EventEmitter,
  event: string | symbol,
  listener: Listener
) => EventEmitter;

const ADD_LISTENER_METHODS = [
  'addListener',
  'on',
  'once',
  'prependListener',
  'prependOnceListener',
] as const;
const REMOVE_LISTENER_METHODS = ['removeListener', 'off'] as const;

// On a bound emitter: the context its listeners run in. On a listener wrapper: the listener.
const kBoundContext = Symbol('otel-forksafe bound context');
const kListener = Symbol('otel-forksafe listener');

interface BoundEmitter extends EventEmitter {
  [kBoundContext]?: Context;
}
interface ListenerWrapper extends Listener {
  [kListener]?: Listener;
  listener?: ListenerWrapper;
}

/**
 * The AsyncLocalStorage context manager, except that outside any `context.with()` the active
 * context is the process root (the context extracted from the environment) instead of the
 * empty ROOT_CONTEXT. An explicit `context.with(ROOT_CONTEXT, …)` still means "no parent".
 *
 * `bind()` behaves as AsyncLocalStorageContextManager's: a bound function runs in the context;
 * listeners later added to a bound emitter run in the context it was first bound to, and
 * removing the original listener removes them.
 *
 * Dev note: `AsyncLocalStorage.enterWith()` from the preload would be simpler, but on Node 24
 * (AsyncContextFrame) a store entered in an `--import` preload does not reach the main module.
 *
 * Dev note (memory, issue #6): the upstream manager gives every bound emitter eight closures,
 * a map and a WeakMap per event, and every call through a bound function two more closures.
 * The http and express instrumentations bind every request and response, and in a busy
 * server those objects outlive their request by a scavenge or two, growing V8's new space.
 * Here a bound emitter gets the context in one symbol property and shared methods (one set
 * per original method, not per emitter), and a listener wrapper keeps its listener in a
 * property, which removeListener looks up.
 */
export class ProcessRootContextManager implements ContextManager {
  private root: Context = ROOT_CONTEXT;
  private readonly storage = new AsyncLocalStorage<Context>();
  // Set while an add method of a bound emitter runs, so that `once` (which calls `on` with
  // its own wrapper) wraps the listener once.
  private readonly state = { wrapping: false };
  private readonly patchedMethods = new Map<ListenerMethod, ListenerMethod>();

  /** Sets the context used when none is active. */
  setRoot(root: Context): void {
    this.root = root;
  }

  active(): Context {
    const active = this.storage.getStore();
    if (active === undefined || active === ROOT_CONTEXT) return this.root;
    return active === EXPLICIT_ROOT ? ROOT_CONTEXT : active;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const store = context === ROOT_CONTEXT ? EXPLICIT_ROOT : context;
    if (thisArg === undefined || thisArg === null)
      return this.storage.run(store, fn, ...args);
    return this.storage.run(
      store,
      Reflect.apply as (f: F, t: unknown, a: A) => ReturnType<F>,
      fn,
      thisArg,
      args
    );
  }

  bind<T>(context: Context, target: T): T {
    if (target instanceof EventEmitter)
      return this.bindEmitter(context, target) as T;
    if (typeof target === 'function')
      return this.bindFunction(context, target as unknown as Listener) as T;
    return target;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }

  private bindFunction(context: Context, target: Listener): ListenerWrapper {
    const storage = this.storage;
    const store = context === ROOT_CONTEXT ? EXPLICIT_ROOT : context;
    const wrapper = function (this: unknown, ...args: unknown[]): unknown {
      return storage.run(store, Reflect.apply, target, this, args);
    };
    // As upstream: callers that look at a function's arity (express error handlers) see the
    // target's.
    Object.defineProperty(wrapper, 'length', {
      enumerable: false,
      configurable: true,
      writable: false,
      value: target.length,
    });
    return wrapper;
  }

  private bindEmitter(context: Context, ee: BoundEmitter): EventEmitter {
    // As upstream: the first binding of an emitter wins.
    if (ee[kBoundContext] !== undefined) return ee;
    ee[kBoundContext] = context;
    const methods = ee as unknown as Record<string, ListenerMethod | undefined>;
    for (const name of ADD_LISTENER_METHODS) {
      const original = methods[name];
      if (typeof original === 'function')
        methods[name] = this.patchedMethod(original, true);
    }
    for (const name of REMOVE_LISTENER_METHODS) {
      const original = methods[name];
      if (typeof original === 'function')
        methods[name] = this.patchedMethod(original, false);
    }
    return ee;
  }

  /** The shared replacement of one original add or remove method. */
  private patchedMethod(
    original: ListenerMethod,
    adds: boolean
  ): ListenerMethod {
    let patched = this.patchedMethods.get(original);
    if (patched !== undefined) return patched;
    const bindFunction = this.bindFunction.bind(this);
    const state = this.state;
    patched = adds
      ? function (this: BoundEmitter, event, listener) {
          const context = this[kBoundContext];
          if (
            state.wrapping ||
            context === undefined ||
            typeof listener !== 'function'
          )
            return original.call(this, event, listener);
          const wrapper = bindFunction(context, listener);
          wrapper[kListener] = listener;
          state.wrapping = true;
          try {
            return original.call(this, event, wrapper);
          } finally {
            state.wrapping = false;
          }
        }
      : function (this: BoundEmitter, event, listener) {
          return original.call(this, event, findWrapper(this, event, listener));
        };
    this.patchedMethods.set(original, patched);
    return patched;
  }
}

/**
 * What to pass to the original removeListener for `listener`: its most recently added
 * wrapper (directly in the list, or inside the wrapper `once` made), else the listener.
 */
function findWrapper(
  ee: EventEmitter,
  event: string | symbol,
  listener: Listener
): Listener {
  if (
    typeof listener !== 'function' ||
    (listener as ListenerWrapper)[kListener]
  )
    return listener;
  const raw = ee.rawListeners(event) as ListenerWrapper[];
  for (let i = raw.length - 1; i >= 0; i--) {
    const entry = raw[i]!;
    if (entry === listener) return listener;
    if (entry[kListener] === listener) return entry;
    const inner = entry.listener;
    if (inner !== undefined && inner[kListener] === listener) return inner;
  }
  return listener;
}

/**
 * Extracts the context this process was started under from its environment variables, with
 * the globally configured propagators (so it follows OTEL_PROPAGATORS). Returns undefined when
 * the environment carries nothing they recognise. Call after the SDK registered its propagator.
 */
export function extractEnvContext(): Context | undefined {
  const extracted = propagation.extract(
    ROOT_CONTEXT,
    undefined,
    new EnvironmentGetter()
  );
  // Propagators return the context they were given when they find nothing.
  return extracted === ROOT_CONTEXT ? undefined : extracted;
}
