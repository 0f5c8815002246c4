// Loads an instrumentation package only when a module it patches is first loaded: one shim on
// Module._load (CommonJS require, and ES imports of CommonJS files) plus, for ES modules, a
// call our loader hook (esm-lazy-hook.ts) puts in front of import-in-the-middle's registration.
// Installed by bootstrap.ts in every process that may export (worker, undecided).
import Module from 'node:module';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Api from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { log } from './diag.ts';
import {
  INSTRUMENTATIONS,
  type InstrumentationEntry,
} from './instrumentation-table.ts';

const require = createRequire(import.meta.url);

type InstrumentationClass = new (config?: object) => Instrumentation;
type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
interface ModuleWithLoad {
  _load: Load;
}
interface ParentModule {
  require?: (id: string) => unknown;
}

/** What startLazyInstrumentations returns. */
export interface LazyInstrumentations {
  /** Every instrumentation constructed so far, in order. */
  readonly loaded: readonly Instrumentation[];
  /**
   * Constructs the enabled instrumentations that patch no module by name: undici at once
   * (it must be live before the app's first fetch), the metrics-only ones (runtime-node,
   * host-metrics) on the next turn of the event loop, once the app's main module has run.
   */
  loadUnhooked(): void;
  /** An ES module at `url` is about to be handed to import-in-the-middle's hooks. */
  esmModuleLoading(url: string): void;
  /** Disables every loaded instrumentation and loads no more (the process became a primary). */
  stop(): void;
}

/** Options of startLazyInstrumentations. */
export interface LazyOptions {
  /** Called once, right after `@opentelemetry/api` is first loaded by anyone. */
  onApiLoaded?: () => void;
  /**
   * Called once, when the app's main CommonJS module has finished its first run (the
   * `require` of it with `isMain` returned, or threw).
   */
  onMainLoaded?: () => void;
}

// Dev note: these only report metrics, read at the first export (60 s by default): constructing
// them a turn later keeps ~20 ms (runtime-node) off every worker's way to listening.
const METRICS_ONLY = new Set(['runtime-node', 'host-metrics']);

// The API's CommonJS entry as a resolved filename (API 1.10 is dist/index.cjs; 1.9 and
// earlier, which apps may bring, build/src/index.js).
const API_INDEX =
  /[\\/]@opentelemetry[\\/]api[\\/](?:dist[\\/]index\.cjs|build[\\/]src[\\/]index\.js)$/;

/**
 * The module name (as the instrumentation table lists it) that a `require` request, an
 * absolute filename or a file URL refers to, or undefined for a relative request.
 */
export function moduleNameOf(request: string): string | undefined {
  let spec = request;
  if (spec.startsWith('node:')) return spec.slice(5);
  if (spec.startsWith('file:')) {
    try {
      spec = fileURLToPath(spec);
    } catch {
      return undefined;
    }
  }
  if (spec.startsWith('.')) return undefined;
  if (spec.startsWith('/') || /^[A-Za-z]:[\\/]/.test(spec)) {
    const normal = spec.replaceAll('\\', '/');
    const at = normal.lastIndexOf('/node_modules/');
    if (at < 0) return undefined;
    spec = normal.slice(at + '/node_modules/'.length);
  }
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return name;
}

let active: LazyInstrumentations | undefined;

/**
 * Starts loading the named instrumentations on demand. Once per process (later calls return
 * the first loader). Never throws from the shim: a package that fails to load is reported in
 * one line and the module loads uninstrumented.
 */
export function startLazyInstrumentations(
  names: readonly string[],
  options: LazyOptions = {}
): LazyInstrumentations {
  if (active) return active;
  const entries = INSTRUMENTATIONS.filter(e => names.includes(e.name));
  // Module name -> entries still to load (builtins under both 'http' and 'node:http' forms).
  const pending = new Map<string, InstrumentationEntry[]>();
  for (const entry of entries) {
    for (const m of entry.modules) {
      const list = pending.get(m) ?? [];
      list.push(entry);
      pending.set(m, list);
    }
  }
  const loaded: Instrumentation[] = [];
  const done = new Set<string>();
  let stopped = false;
  let apiSeen = options.onApiLoaded === undefined;
  let mainSeen = options.onMainLoaded === undefined;
  let fromAuto: NodeRequire | undefined;

  const construct = (entry: InstrumentationEntry): void => {
    if (done.has(entry.name)) return;
    done.add(entry.name);
    for (const m of entry.modules) pending.delete(m);
    try {
      fromAuto ??= createRequire(
        require.resolve('@opentelemetry/auto-instrumentations-node')
      );
      const mod = fromAuto(entry.pkg) as Record<
        string,
        InstrumentationClass | undefined
      >;
      const Class = mod[entry.className];
      if (!Class)
        throw new Error(`${entry.pkg} does not export ${entry.className}`);
      // Constructing enables it: it registers its require/import hooks now.
      const instrumentation = new Class();
      // Dev note: the SDK hands its providers to the instrumentations it starts with; one
      // constructed later must be handed the global ones here, as registerInstrumentations()
      // would. runtime-node creates its instruments only then (its base class asks for them
      // before its own fields exist), so without this it reported nothing.
      const api = fromAuto('@opentelemetry/api') as typeof Api;
      instrumentation.setMeterProvider(api.metrics.getMeterProvider());
      loaded.push(instrumentation);
      log.debug(`instrumentation ${entry.name} loaded`);
    } catch (err) {
      log.error(
        `instrumentation ${JSON.stringify(entry.name)} could not be loaded; continuing without it`,
        err
      );
    }
  };

  // Loads what `name` needs; true when something was constructed just now.
  const loadFor = (name: string | undefined): boolean => {
    if (stopped || name === undefined) return false;
    const list = pending.get(name);
    if (!list) return false;
    for (const entry of list) construct(entry);
    return true;
  };

  const mod = Module as unknown as ModuleWithLoad;
  const originalLoad = mod._load;
  // Dev note: this runs on every require() of the app, so the common case (a relative
  // request, or a module nobody instruments) costs a string test and a Map lookup.
  const load: Load = function (this: unknown, request, parent, isMain) {
    if (
      !apiSeen &&
      (request === '@opentelemetry/api' || API_INDEX.test(request))
    ) {
      apiSeen = true;
      const exports = originalLoad.call(this, request, parent, isMain);
      try {
        options.onApiLoaded?.();
      } catch (err) {
        log.error('could not connect the OpenTelemetry API', err);
      }
      return exports;
    }
    if (pending.size > 0 && request.charCodeAt(0) !== 46 /* . */) {
      if (loadFor(moduleNameOf(request))) {
        // The instrumentation's require-in-the-middle hook was installed just now, after
        // this require() passed through Module.prototype.require: ask again through it, so
        // the hook sees (and patches) this first load too.
        const viaRequire = (parent as ParentModule | null | undefined)?.require;
        if (typeof viaRequire === 'function' && !isMain)
          return viaRequire.call(parent, request);
      }
    }
    return originalLoad.call(this, request, parent, isMain);
  };
  const shim: Load = function (this: unknown, request, parent, isMain) {
    if (!isMain || mainSeen) return load.call(this, request, parent, isMain);
    mainSeen = true;
    try {
      return load.call(this, request, parent, isMain);
    } finally {
      try {
        options.onMainLoaded?.();
      } catch (err) {
        log.error('could not note the end of the main module', err);
      }
    }
  };
  mod._load = shim;

  const lazy: LazyInstrumentations = {
    loaded,
    loadUnhooked() {
      if (stopped) return;
      const unhooked = entries.filter(e => e.modules.length === 0);
      for (const entry of unhooked)
        if (!METRICS_ONLY.has(entry.name)) construct(entry);
      const later = unhooked.filter(e => METRICS_ONLY.has(e.name));
      if (later.length > 0) {
        setImmediate(() => {
          if (!stopped) for (const entry of later) construct(entry);
        }).unref();
      }
    },
    esmModuleLoading(url) {
      const name = url.startsWith('node:') ? url.slice(5) : moduleNameOf(url);
      loadFor(name);
    },
    stop() {
      stopped = true;
      pending.clear();
      for (const instrumentation of loaded) instrumentation.disable();
      if (mod._load === shim) mod._load = originalLoad;
    },
  };
  active = lazy;
  return lazy;
}
