// What a process that may still become a cluster primary puts in place, without loading any
// OpenTelemetry code, when a module it would instrument loads: enough for the instrumentation to
// catch up later, should the process turn out to be standalone (lazy.ts, `record`).
// - node:http and node:https: `request` and `get` become trampolines, so a reference the app
//   took before (`const { request } = require('node:http')`) reaches the instrumented function;
//   their first call while recording asks whether the process is standalone by now (`onUse`).
// - express: the layers the app registers are noted, to be handed to the instrumentation's own
//   layer patch afterwards (express spans and `http.route` for routes registered before).
// Everything else patches shared objects (prototypes, exports) and catches up by itself.
import { log } from '../diag.ts';
import { copyShape } from './fixes.ts';

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
type Exports = Record<string, unknown>;

/** Undoes or completes what was put in place for one module. */
export interface LatePatch {
  /** Before the instrumentation patches the module: the module's own functions back. */
  beforePatch(): void;
  /** After it patched: early references lead to the patched functions (or layers). */
  afterPatch(instrumentation: unknown): void;
  /** The process is a primary: everything as the module had it (early references stay inert). */
  restore(): void;
}

// Dev note: shimmer (used by every instrumentation's _wrap) leaves the wrapped function on
// `__original`; a chain that reaches our trampoline must not become its target (a loop).
function wraps(fn: unknown, inner: unknown): boolean {
  for (let f = fn, depth = 0; typeof f === 'function' && depth < 16; depth++) {
    if (f === inner) return true;
    f = (f as { __original?: unknown }).__original;
  }
  return false;
}

function trampolines(
  mod: Exports,
  onUse: (() => void) | undefined
): LatePatch | undefined {
  let used = onUse;
  const slots: Array<{
    key: string;
    original: AnyFunction;
    trampoline: AnyFunction;
    target: AnyFunction;
    handedBack: boolean;
  }> = [];
  for (const key of ['request', 'get']) {
    const original = mod[key];
    if (typeof original !== 'function') continue;
    const slot = {
      key,
      original: original as AnyFunction,
      target: original as AnyFunction,
      handedBack: false,
      trampoline: undefined as unknown as AnyFunction,
    };
    slot.trampoline = function (this: unknown, ...args: unknown[]) {
      if (used !== undefined) {
        // May instrument the module right now (then slot.target is the patched function).
        try {
          used();
        } catch (err) {
          log.debug(`could not decide on a call of ${key}: ${String(err)}`);
        }
      }
      return slot.target.apply(this, args);
    };
    copyShape(slot.trampoline, slot.original);
    mod[key] = slot.trampoline;
    slots.push(slot);
  }
  if (slots.length === 0) return undefined;
  return {
    beforePatch() {
      used = undefined;
      for (const slot of slots) {
        // Someone else wrapped it since (a mock, an agent): leave theirs alone.
        slot.handedBack = mod[slot.key] === slot.trampoline;
        if (slot.handedBack) mod[slot.key] = slot.original;
      }
    },
    afterPatch() {
      for (const slot of slots) {
        const now = mod[slot.key];
        if (
          slot.handedBack &&
          typeof now === 'function' &&
          !wraps(now, slot.trampoline)
        )
          slot.target = now as AnyFunction;
      }
    },
    restore() {
      used = undefined;
      for (const slot of slots) {
        if (mod[slot.key] === slot.trampoline) mod[slot.key] = slot.original;
      }
    },
  };
}

interface ExpressInstrumentationInternals {
  _getRouterUsePatch?: () => (original: AnyFunction) => AnyFunction;
}

function expressLayers(express: Exports): LatePatch | undefined {
  const Router = express.Router as
    { prototype?: Exports; route?: unknown; use?: unknown } | undefined;
  // Express 5's Router is the router package's constructor; express 4's is the prototype object.
  const isV5 = typeof Router?.prototype?.route === 'function';
  const routerProto = (isV5 ? Router?.prototype : Router) as
    Exports | undefined;
  const app = express.application as Exports | undefined;
  if (
    typeof routerProto?.route !== 'function' ||
    typeof routerProto.use !== 'function' ||
    typeof app?.use !== 'function'
  )
    return undefined;
  const noted: Array<{ layer: object; args: unknown[] }> = [];
  let noting = true;
  const undo: Array<() => void> = [];
  const lastLayer = (stack: unknown): object | undefined =>
    Array.isArray(stack) ? (stack[stack.length - 1] as object) : undefined;
  const note = (
    target: Exports,
    key: string,
    stackOf: (self: Record<string, unknown>) => unknown
  ): void => {
    const original = target[key] as AnyFunction;
    const wrapper = function (this: unknown, ...args: unknown[]) {
      const result = original.apply(this, args);
      if (noting) {
        const layer = lastLayer(stackOf(this as Record<string, unknown>));
        if (layer) noted.push({ layer, args });
      }
      return result;
    };
    copyShape(wrapper, original);
    target[key] = wrapper;
    undo.push(() => {
      if (target[key] === wrapper) target[key] = original;
    });
  };
  note(routerProto, 'route', self => self.stack);
  note(routerProto, 'use', self => self.stack);
  note(app, 'use', self => {
    const router = (isV5 ? self.router : self._router) as
      { stack?: unknown } | undefined;
    return router?.stack;
  });
  return {
    beforePatch() {
      noting = false;
    },
    afterPatch(instrumentation) {
      // The instrumentation's own patch for Router#use, run over each noted layer as if it
      // had been registered now: it derives the layer's path from the same arguments.
      const factory = (instrumentation as ExpressInstrumentationInternals)
        ._getRouterUsePatch;
      const layers = noted.splice(0);
      if (typeof factory !== 'function') {
        if (layers.length > 0)
          log.debug(
            `express: ${layers.length} layers registered before the role was known stay without spans (the instrumentation has no _getRouterUsePatch)`
          );
        return;
      }
      const patchOne = factory.call(instrumentation)(() => undefined);
      for (const { layer, args } of layers) {
        try {
          patchOne.apply({ stack: [layer] }, args);
        } catch (err) {
          log.debug(
            `express: a layer could not be patched late: ${String(err)}`
          );
        }
      }
    },
    restore() {
      noting = false;
      noted.length = 0;
      for (const u of undo) u();
    },
  };
}

/** The modules (as the instrumentation table names them) prepareLatePatch puts something in place for. */
export function needsLatePatch(name: string): boolean {
  return name === 'http' || name === 'https' || name === 'express';
}

/**
 * Puts in place what module `name` (as the instrumentation table names it) needs to be
 * instrumented after it loaded; undefined when it needs nothing.
 */
export function prepareLatePatch(
  name: string,
  exports: unknown,
  onUse?: () => void
): LatePatch | undefined {
  if (!needsLatePatch(name) || exports === null) return undefined;
  if (typeof exports !== 'object' && typeof exports !== 'function')
    return undefined;
  try {
    if (name === 'express') return expressLayers(exports as Exports);
    return trampolines(exports as Exports, onUse);
  } catch (err) {
    log.debug(`could not prepare ${name} for a late patch: ${String(err)}`);
  }
  return undefined;
}
