// Keeps instrumentations from changing what the app's own code sees, without forking them: every
// function an instrumentation patches is contained (its patch code may not throw into the app),
// and the express and router instrumentations hand handlers the same `next` as `req.next`.
// Applied by lazy.ts to each instrumentation right after constructing it.
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { describeError, log } from '../diag.ts';

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type Wrapper = (original: AnyFunction, name?: string) => unknown;
type Wrap = (exports: unknown, name: string, wrapper: Wrapper) => unknown;

interface WrappingInstrumentation {
  _wrap?: Wrap;
}

/** One call of a contained function: what its original did while the patch ran. */
interface Frame {
  entered: boolean;
  returned: boolean;
  result: unknown;
  threw: boolean;
  error: unknown;
  swap: NextSwap | undefined;
}

interface ContainOptions {
  /** Instrumentation short name, for the report. */
  readonly name: string;
  /** Express semantics: a replaced `next` argument becomes `req.next` too. */
  readonly expressHandler: boolean;
  /** Calls for which the patch is skipped: the original runs as if uninstrumented. */
  readonly bypass?: (args: readonly unknown[]) => boolean;
}

const reported = new Set<string>();

function report(options: ContainOptions, fn: string, err: unknown): void {
  const key = `${options.name}\0${fn}`;
  if (reported.has(key)) return;
  reported.add(key);
  log.warn(
    `instrumentation ${JSON.stringify(options.name)} threw in its patch of ${fn}: ${describeError(err)}; the original function's result was kept, the application continues`
  );
}

/** Gives `target` the `length` and `name` of `from` (some patches branch on arity). */
export function copyShape(target: AnyFunction, from: AnyFunction): void {
  // Some patches branch on the original's arity (express: 4 arguments = error handler).
  for (const key of ['length', 'name'] as const) {
    try {
      Object.defineProperty(target, key, {
        value: from[key],
        configurable: true,
      });
    } catch {
      // a frozen function: keep our own
    }
  }
}

// Dev note: express and router call a handler with `next` and also store it as `req.next`, which
// express 5 hands on (res.format passes `req.next` to its callbacks) and apps compare. The
// instrumentations call the handler with a `next` of their own: `req.next` is made that
// function for as long as the handler has the floor, so the two stay identical (calling either
// does what the router's `next` does, plus ending the span). The instrumentation is handed a
// stand-in for the router's `next` that puts `req.next` back before the router moves on, so the
// next layer (an error handler no instrumentation patches, say) finds it as it was.
interface NextSwap {
  /** Position of `next` in the arguments; -1 when there is none. */
  readonly index: number;
  readonly req: { next?: unknown } | undefined;
  readonly routerNext: unknown;
  readonly standIn: AnyFunction | undefined;
  /** What we put in req.next, while it is there. */
  assigned: unknown;
}

function prepareNextSwap(args: unknown[]): NextSwap {
  // (req, res, next) or, for error handlers, (err, req, res, next).
  const index =
    args.length >= 4 && typeof args[3] === 'function'
      ? 3
      : typeof args[2] === 'function'
        ? 2
        : -1;
  const candidate = index === 3 ? args[1] : args[0];
  const req =
    candidate !== null && typeof candidate === 'object'
      ? (candidate as { next?: unknown })
      : undefined;
  const routerNext = index >= 0 ? args[index] : undefined;
  if (
    req === undefined ||
    typeof routerNext !== 'function' ||
    req.next !== routerNext
  )
    return {
      index: -1,
      req: undefined,
      routerNext,
      standIn: undefined,
      assigned: undefined,
    };
  const swap: NextSwap = {
    index,
    req,
    routerNext,
    standIn: undefined,
    assigned: undefined,
  };
  const standIn = function (this: unknown, ...rest: unknown[]): unknown {
    if (swap.assigned !== undefined && req.next === swap.assigned)
      req.next = routerNext;
    swap.assigned = undefined;
    return Reflect.apply(routerNext as AnyFunction, this, rest);
  };
  // Dev note: no copyShape here (it cost two defineProperty calls per layer and request): only
  // the instrumentation sees the stand-in, and the handler gets either the instrumentation's
  // own function or, when the patch passed the stand-in on, the router's next itself.
  (swap as { standIn: AnyFunction }).standIn = standIn;
  args[index] = standIn;
  return swap;
}

/** In the original's arguments: the handler gets the instrumentation's next, req.next too. */
function applyNextSwap(swap: NextSwap, outgoing: unknown[]): void {
  if (swap.index < 0 || swap.req === undefined) return;
  const given = outgoing[swap.index];
  // The patch passed our stand-in on as it is: the handler gets the router's own next.
  if (given === swap.standIn) {
    outgoing[swap.index] = swap.routerNext;
    return;
  }
  if (typeof given === 'function' && swap.req.next === swap.routerNext) {
    swap.req.next = given;
    swap.assigned = given;
  }
}

// Dev note: the express and router instrumentations end a handler's span when its response
// closes, adding the listener with `res.once` after the handler ran: a response that is not an
// EventEmitter (express's own test suite calls handlers with plain objects) makes them throw
// after the handler returned, out of reach of the app. Such a call is passed to the original
// as it is: nothing could tell when that response ends, so there is no span to make.
// Ref: @opentelemetry/instrumentation-router `ensureFallbackListener` and
// @opentelemetry/instrumentation-express layer patch (TypeError: res.once is not a function)
function hasNoEmitterResponse(args: readonly unknown[]): boolean {
  // (req, res, next) or, for error handlers, (err, req, res, next).
  const res =
    args.length >= 4 && typeof args[3] === 'function' ? args[2] : args[1];
  return (
    res !== null &&
    typeof res === 'object' &&
    typeof (res as { once?: unknown }).once !== 'function'
  );
}

// Set once the express instrumentation has patched an express module in this process.
let expressPatched = false;

/** The request of a router call when it is an express app's request (`req.app` is the app). */
function isExpressRequest(args: readonly unknown[]): boolean {
  const req =
    args.length >= 4 && typeof args[3] === 'function' ? args[1] : args[0];
  const app = (req as { app?: { handle?: unknown; use?: unknown } } | null)
    ?.app;
  return typeof app?.handle === 'function' && typeof app.use === 'function';
}

// Dev note: express 5 routes through the router package, so with both instrumentations on
// every middleware gets two spans (express's "middleware - name" and router's "middleware -
// patched", the name of express's wrapper) and every route handler two. Where express's
// instrumentation is at work, its spans stay (the same names and attributes as on express 4)
// and router's instrumentation steps aside for express's requests; router used on its own is
// still traced by it.
function bypassFor(name: string): ContainOptions['bypass'] {
  if (name === 'express') return hasNoEmitterResponse;
  if (name === 'router')
    return args =>
      hasNoEmitterResponse(args) || (expressPatched && isExpressRequest(args));
  return undefined;
}

/**
 * The function to install in place of `original`: runs what `wrapper` makes of it; when the
 * patch code throws, says so once and returns what the original returned (or runs the
 * original when the patch threw before calling it). Errors of the original itself pass through.
 */
function containPatch(
  wrapper: Wrapper,
  original: AnyFunction,
  fnName: string,
  options: ContainOptions
): unknown {
  const frames: Frame[] = [];
  const tracked = function (this: unknown, ...args: unknown[]): unknown {
    const frame = frames[frames.length - 1];
    // Called after the patched call returned (a deferred call): nothing to track.
    if (frame === undefined || frame.entered)
      return new.target
        ? Reflect.construct(original, args, new.target)
        : Reflect.apply(original, this, args);
    frame.entered = true;
    if (frame.swap) applyNextSwap(frame.swap, args);
    try {
      frame.result = new.target
        ? Reflect.construct(original, args, new.target)
        : Reflect.apply(original, this, args);
      frame.returned = true;
      return frame.result;
    } catch (err) {
      frame.threw = true;
      frame.error = err;
      throw err;
    }
  };
  copyShape(tracked, original);
  let patched: unknown;
  try {
    patched = wrapper(tracked, fnName);
  } catch (err) {
    report(options, fnName, err);
    return original;
  }
  // Left alone by the patch (express returns error handlers as they are), or not a function.
  if (patched === tracked) return original;
  if (typeof patched !== 'function') return patched;
  const patchedFn = patched as AnyFunction;
  const contained = function (this: unknown, ...args: unknown[]): unknown {
    if (options.bypass?.(args) === true && !new.target)
      return Reflect.apply(original, this, args);
    // The original arguments stay as they came, for the original run as if uninstrumented.
    const given = options.expressHandler && !new.target ? [...args] : args;
    const frame: Frame = {
      entered: false,
      returned: false,
      result: undefined,
      threw: false,
      error: undefined,
      swap: given === args ? undefined : prepareNextSwap(given),
    };
    frames.push(frame);
    try {
      return new.target
        ? Reflect.construct(patchedFn, given, new.target as AnyFunction)
        : Reflect.apply(patchedFn, this, given);
    } catch (err) {
      // The original's own error (or the patch rethrowing it): the app's, untouched.
      if (frame.threw) throw frame.error;
      report(options, fnName, err);
      if (frame.returned) return frame.result;
      // The patch threw before it called the original: run it as if uninstrumented.
      frame.entered = true;
      if (
        frame.swap?.assigned !== undefined &&
        frame.swap.req?.next === frame.swap.assigned
      )
        frame.swap.req.next = frame.swap.routerNext;
      return new.target
        ? Reflect.construct(original, args, new.target as AnyFunction)
        : Reflect.apply(original, this, args);
    } finally {
      frames.pop();
    }
  };
  copyShape(contained, patchedFn);
  // Properties a patch hangs on its function (some read them back later).
  for (const key of Reflect.ownKeys(patchedFn)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    const descriptor = Object.getOwnPropertyDescriptor(patchedFn, key);
    if (descriptor) Object.defineProperty(contained, key, descriptor);
  }
  if (typeof patchedFn.prototype === 'object' && patchedFn.prototype !== null)
    contained.prototype = patchedFn.prototype as object;
  return contained;
}

/**
 * Applies our fixes to a freshly constructed instrumentation (before it patches anything).
 * `name` is its short name (table.ts). Never throws.
 */
export function applyInstrumentationFixes(
  name: string,
  instrumentation: Instrumentation
): void {
  try {
    const target = instrumentation as unknown as WrappingInstrumentation;
    const wrap = target._wrap;
    if (typeof wrap === 'function') {
      const bypass = bypassFor(name);
      const options: ContainOptions = {
        name,
        expressHandler: name === 'express' || name === 'router',
        ...(bypass ? { bypass } : {}),
      };
      // Dev note: instrumentations patch through this._wrap (shimmer); _massWrap goes through
      // it too. The wrapper is handed our tracking stand-in for the original, and what it
      // returns is contained. shimmer still records the true original, so unwrap restores it.
      target._wrap = function (this: unknown, exports, fnName, wrapper) {
        if (name === 'express') expressPatched = true;
        if (typeof wrapper !== 'function')
          return Reflect.apply(wrap, this, [exports, fnName, wrapper]);
        return Reflect.apply(wrap, this, [
          exports,
          fnName,
          (original: AnyFunction) =>
            typeof original === 'function'
              ? containPatch(wrapper, original, String(fnName), options)
              : wrapper(original, fnName),
        ]);
      };
    }
  } catch (err) {
    log.debug(
      `could not apply our fixes to instrumentation ${name}: ${describeError(err)}`
    );
  }
}
