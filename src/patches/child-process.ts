// Wraps child_process's spawning functions so a child started inside a span continues the trace
// (TRACEPARENT / TRACESTATE / BAGGAGE in its environment) and a Node child loads the preload.
// Installed by src/preload/dispatch.ts in every process that may export (worker, undecided/standalone).
// Ref: https://opentelemetry.io/docs/specs/otel/context/env-carriers/#process-spawning
import type * as ChildProcessModule from 'node:child_process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { promisify } from 'node:util';
import type * as ApiModule from '@opentelemetry/api';
import type * as EnvCarrierModule from '@opentelemetry/propagator-env-carrier';
import {
  appendImportToNodeOptions,
  preloadSpecifiers,
  tokenizeNodeOptions,
} from './node-options.ts';

const PATCHED = Symbol.for('otel-forksafe.child-process');

const require = createRequire(import.meta.url);
// The API keeps its registrations under this global; until something is registered there can
// be no active span, and a primary (which never registers anything) never loads the API here.
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

function contextModules():
  { api: typeof ApiModule; carrier: typeof EnvCarrierModule } | undefined {
  if ((globalThis as Record<symbol, unknown>)[API_GLOBAL] === undefined)
    return undefined;
  return {
    api: require('@opentelemetry/api') as typeof ApiModule,
    carrier:
      require('@opentelemetry/propagator-env-carrier') as typeof EnvCarrierModule,
  };
}

/** The functions wrapped; exec and execFile both end in spawn, but each is public API. */
export const CHILD_PROCESS_METHODS = [
  'spawn',
  'spawnSync',
  'fork',
  'exec',
  'execSync',
  'execFile',
  'execFileSync',
] as const;

type Method = (typeof CHILD_PROCESS_METHODS)[number];
type Env = Record<string, string | undefined>;
type Options = { env?: Env | undefined; execArgv?: readonly string[] };
type AnyFn = ((...args: unknown[]) => unknown) & { [PATCHED]?: true };

/** What the patch needs from the preload. */
export interface ChildProcessPatchOptions {
  /** `--import` value that loads this preload (the file URL of register.js). */
  readonly preloadUrl: string;
  /** True when an --import/--require specifier names our preload. */
  readonly isOurPreload: (specifier: string) => boolean;
}

/** Env-variable names (normalized as the carrier does) of every configured propagator field. */
function carrierKeys(
  api: typeof ApiModule,
  carrier: typeof EnvCarrierModule
): string[] {
  const names: Record<string, string> = {};
  const setter = new carrier.EnvironmentSetter(names);
  for (const field of api.propagation.fields())
    setter.set(undefined, field, '');
  return Object.keys(names);
}

/**
 * The variables to change in a child's environment so it continues the active trace: the
 * propagators' fields for the active context, and the stale ones (inherited from this
 * process's own parent) cleared. Empty when no span is active. A variable the caller put in
 * `options.env` with a value of its own is left as the caller set it.
 */
export function traceContextEnv(
  callerEnv: Env | undefined,
  ownEnv: Env = process.env
): Env {
  const modules = contextModules();
  if (modules === undefined) return {};
  const { api, carrier } = modules;
  const active = api.context.active();
  const spanContext = api.trace.getSpanContext(active);
  if (spanContext === undefined || !api.isSpanContextValid(spanContext))
    return {};
  const injected: Record<string, string> = {};
  api.propagation.inject(
    active,
    undefined,
    new carrier.EnvironmentSetter(injected)
  );
  const out: Env = {};
  for (const key of new Set([
    ...carrierKeys(api, carrier),
    ...Object.keys(injected),
  ])) {
    const given = callerEnv?.[key];
    // A value equal to this process's own was inherited, not chosen: it is replaced.
    if (given !== undefined && given !== ownEnv[key]) continue;
    out[key] = injected[key];
  }
  return out;
}

// Dev note: child_process functions take (command, [args], [options], [callback]) with every
// middle argument optional; this finds where the options object is, or where it would go.
function optionsIndex(method: Method, args: readonly unknown[]): number {
  if (method === 'exec' || method === 'execSync') return 1;
  const second = args[1];
  return Array.isArray(second) || (second == null && args.length > 2) ? 2 : 1;
}

/** util.promisify's shape for exec/execFile: resolves {stdout, stderr}, exposes `child`. */
function promisifyExec(fn: AnyFn): (...args: unknown[]) => Promise<unknown> {
  return (...args: unknown[]) => {
    let child: unknown;
    const promise = new Promise((resolvePromise, reject) => {
      child = fn(
        ...args,
        (
          err: (Error & { stdout?: unknown; stderr?: unknown }) | null,
          stdout: unknown,
          stderr: unknown
        ) => {
          if (err !== null) {
            err.stdout = stdout;
            err.stderr = stderr;
            reject(err);
          } else {
            resolvePromise({ stdout, stderr });
          }
        }
      );
    });
    return Object.assign(promise, { child });
  };
}

function isPlainObject(value: unknown): value is Options {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Wraps the spawning functions of `childProcess` once (idempotent across copies of the
 * preload) and refreshes the ESM named exports. Returns an undo function for tests. The
 * wrappers never throw on their own account: if our part fails, the call runs unchanged.
 */
export function patchChildProcess(
  childProcess: typeof ChildProcessModule,
  options: ChildProcessPatchOptions
): () => void {
  const target = childProcess as unknown as Record<Method, AnyFn>;
  if (target.spawn[PATCHED]) return () => {};
  const originals = new Map<Method, AnyFn>();

  const preloadReaches = (
    method: Method,
    given: Options | undefined,
    env: Env
  ): boolean => {
    if (method === 'fork') {
      // fork() passes execArgv (default: this process's) to the child node.
      const execArgv = given?.execArgv ?? process.execArgv;
      if (preloadSpecifiers(execArgv).some(options.isOurPreload)) return true;
    }
    return preloadSpecifiers(tokenizeNodeOptions(env.NODE_OPTIONS ?? '')).some(
      options.isOurPreload
    );
  };

  const childArgs = (method: Method, args: unknown[]): unknown[] => {
    const index = optionsIndex(method, args);
    const current = args[index];
    if (
      current != null &&
      typeof current !== 'function' &&
      !isPlainObject(current)
    )
      return args;
    const given = isPlainObject(current) ? current : undefined;
    const env: Env = given?.env ?? process.env;
    const extra = traceContextEnv(given?.env);
    // Dev note: a Node child loads the preload through NODE_OPTIONS, like a cluster worker;
    // other programs ignore the variable and pass it on to any Node they start in turn.
    if (!preloadReaches(method, given, env)) {
      extra.NODE_OPTIONS = appendImportToNodeOptions(
        env.NODE_OPTIONS,
        options.preloadUrl,
        options.isOurPreload
      );
    }
    if (Object.keys(extra).length === 0) return args;
    const next = [...args];
    const replacement = { ...given, env: { ...env, ...extra } };
    if (typeof current === 'function') next.splice(index, 0, replacement);
    else next[index] = replacement;
    return next;
  };

  for (const method of CHILD_PROCESS_METHODS) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    originals.set(method, original);
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      let next = args;
      try {
        next = childArgs(method, args);
      } catch {
        next = args;
      }
      return Reflect.apply(original, this, next);
    } as AnyFn;
    Object.defineProperty(wrapped, 'name', { value: original.name });
    Object.defineProperty(wrapped, 'length', { value: original.length });
    // Dev note: exec and execFile carry a util.promisify.custom that closes over the original
    // function; the wrapper gets its own, calling the wrapper, with the same {stdout, stderr}.
    if (Object.getOwnPropertyDescriptor(original, promisify.custom)) {
      Object.defineProperty(wrapped, promisify.custom, {
        value: promisifyExec(wrapped),
        enumerable: false,
      });
    }
    wrapped[PATCHED] = true;
    target[method] = wrapped;
  }
  syncBuiltinESMExports();
  return () => {
    for (const [method, original] of originals) target[method] = original;
    syncBuiltinESMExports();
  };
}
