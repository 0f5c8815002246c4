// The process's root context from the environment: a process started with TRACEPARENT /
// TRACESTATE / BAGGAGE (by a parent that otel-forksafe instruments, or by a CI runner) makes
// that context the parent of every span it starts without an active context. Loaded by sdk.ts.
// Ref: https://opentelemetry.io/docs/specs/otel/context/env-carriers/
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { propagation, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { EnvironmentGetter } from '@opentelemetry/propagator-env-carrier';

// A context with nothing in it, distinct from ROOT_CONTEXT by identity: what an explicit
// `context.with(ROOT_CONTEXT, fn)` stores, so that "no context entered" stays recognisable.
const EXPLICIT_ROOT = ROOT_CONTEXT.setValue(
  Symbol('otel-forksafe explicit root'),
  true
);

/**
 * The AsyncLocalStorage context manager, except that outside any `context.with()` the active
 * context is the process root (the context extracted from the environment) instead of the
 * empty ROOT_CONTEXT. An explicit `context.with(ROOT_CONTEXT, …)` still means "no parent".
 *
 * Dev note: `AsyncLocalStorage.enterWith()` from the preload would be simpler, but on Node 24
 * (AsyncContextFrame) a store entered in an `--import` preload does not reach the main module.
 */
export class ProcessRootContextManager extends AsyncLocalStorageContextManager {
  private root: Context = ROOT_CONTEXT;

  /** Sets the context used when none is active. */
  setRoot(root: Context): void {
    this.root = root;
  }

  override active(): Context {
    const active = super.active();
    if (active === ROOT_CONTEXT) return this.root;
    return active === EXPLICIT_ROOT ? ROOT_CONTEXT : active;
  }

  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return super.with(
      context === ROOT_CONTEXT ? EXPLICIT_ROOT : context,
      fn,
      thisArg,
      ...args
    );
  }
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
