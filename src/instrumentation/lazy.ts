// Loads an instrumentation package only when a module it patches is first loaded: a resolve
// hook (load-hook.ts) for CommonJS require plus, for ES modules, a call our loader hook
// (esm-lazy-hook.ts) puts in front of import-in-the-middle's registration.
// Installed by src/preload/ in every process that may export (worker, undecided).
import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Api from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { log } from '../diag.ts';
import { applyInstrumentationFixes } from './fixes.ts';
import {
  needsLatePatch,
  prepareLatePatch,
  type LatePatch,
} from './late-patch.ts';
import { installLoadHook, isModuleLoad } from './load-hook.ts';
import { INSTRUMENTATIONS, type InstrumentationEntry } from './table.ts';

const require = createRequire(import.meta.url);

type InstrumentationClass = new (config?: object) => Instrumentation;

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
  /** The part of loadUnhooked() that cannot wait for the SDK: undici, at once. */
  loadEager(): void;
  /** An ES module at `url` is about to be handed to import-in-the-middle's hooks. */
  esmModuleLoading(url: string): void;
  /**
   * Ends recording (LazyOptions.record): instruments the modules that loaded meanwhile and,
   * from now on, loads instrumentations as their modules load. Idempotent.
   */
  release(): void;
  /** Disables every loaded instrumentation and loads no more (the process became a primary). */
  stop(): void;
  /**
   * Loads no more instrumentations, leaving the loaded ones as they are (the SDK is shutting
   * down: one constructed now would ask the shut-down providers for a meter and a logger).
   */
  freeze(): void;
}

/** Options of startLazyInstrumentations. */
export interface LazyOptions {
  /** Called once, right after `@opentelemetry/api` is first loaded by anyone. */
  onApiLoaded?: () => void;
  /**
   * Called once, when the app's main module is about to run: a setImmediate scheduled then
   * runs after the main CommonJS module's first synchronous run.
   */
  onMainLoaded?: () => void;
  /**
   * Start by recording: modules load uninstrumented and nothing of OpenTelemetry is loaded
   * until release() (a process that may still become a cluster primary).
   */
  record?: boolean;
  /**
   * While recording, the app makes an outgoing request (http, https, fetch): returns true when
   * the process is standalone by now (release() has run), so that the request is instrumented.
   */
  onRecordedUse?: (what: string) => boolean;
  /**
   * While recording, a module whose instrumentation cannot catch up is about to load: the
   * caller ends recording (calls release()) before it loads.
   */
  onRecordingMustEnd?: (reason: string) => void;
}

// Dev note: these only report metrics, read at the first export (60 s by default): constructing
// them a turn later keeps ~20 ms (runtime-node) off every worker's way to listening.
const METRICS_ONLY = new Set(['runtime-node', 'host-metrics']);

// Dev note: instrumentations fed by a diagnostics channel rather than a module. undici's
// (fetch) costs ~20-60 ms to load, most of a one-line script's run: it is constructed on its
// channel's first message instead, and handed that message too.
const ON_CHANNEL: Readonly<Record<string, string>> = {
  undici: 'undici:request:create',
};

// Dev note: the instrumentations that catch up with a module loaded before them, read one by
// one: they patch prototypes or the module's shared exports (http and express with help from
// late-patch.ts). Every other one loads with its module even while recording, as before: some
// replace the module's exports (pino, bunyan, lru-memoizer), some patch objects as the module
// creates them or wrap what the app registers (mysql connections, AWS clients, koa middleware,
// hapi routes, grpc clients), and some are not worth the risk. A primary that uses those
// modules pays for their instrumentations.
const CATCH_UP = new Set([
  'http',
  'express',
  'router',
  'pg',
  'mysql2',
  'ioredis',
  'mongodb',
  'mongoose',
  'knex',
  'tedious',
  'cassandra-driver',
  'generic-pool',
  'memcached',
  'amqplib',
  'net',
  'dns',
]);

/** A module that loaded while recording, and how it was loaded. */
interface Noted {
  readonly name: string;
  /** The first require() of it: request and requiring file. */
  cjs?: { readonly request: string; readonly parentFile: string };
  /** Its ES module URL, when imported (import-in-the-middle wrapped it). */
  esmUrl?: string;
  late?: LatePatch | undefined;
}

// The module's own files in the require cache (not its dependencies): what
// require-in-the-middle must see again for instrumentations that patch a file of the package.
function cachedFilesOf(entryFile: string, name: string): string[] {
  const marker = `/node_modules/${name}/`;
  const normal = entryFile.replaceAll('\\', '/');
  const at = normal.lastIndexOf(marker);
  if (at < 0) return [];
  const base = entryFile.slice(0, at + marker.length);
  return Object.keys(require.cache).filter(
    file =>
      file !== entryFile &&
      file.startsWith(base) &&
      !file.slice(base.length).includes('node_modules')
  );
}

type ChannelListener = (message: unknown, name: string | symbol) => void;

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

// An ES module build of an instrumented package, imported while recording: iitm was not there.
const notInstrumented = (name: string): void =>
  log.debug(
    `${name} was imported as an ES module before the role was known: not instrumented in this process`
  );

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
  let frozen = false;
  const waiting = new Set<string>();
  let apiSeen = options.onApiLoaded === undefined;
  let mainSeen = options.onMainLoaded === undefined;
  let fromAuto: NodeRequire | undefined;
  let recording = options.record === true;
  let builtinsPatched = false;
  const noted = new Map<string, Noted>();
  const byName = new Map<string, Instrumentation>();

  const construct = (entry: InstrumentationEntry): void => {
    if (frozen || done.has(entry.name)) return;
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
      // Constructing enables it: it registers its require/import hooks now. It patches
      // nothing before the module it hooks is loaded, so our fixes are in place in time.
      const instrumentation = new Class();
      applyInstrumentationFixes(entry.name, instrumentation);
      // Dev note: the SDK hands its providers to the instrumentations it starts with; one
      // constructed later must be handed the global ones here, as registerInstrumentations()
      // would. runtime-node creates its instruments only then (its base class asks for them
      // before its own fields exist), so without this it reported nothing.
      const api = fromAuto('@opentelemetry/api') as typeof Api;
      instrumentation.setMeterProvider(api.metrics.getMeterProvider());
      loaded.push(instrumentation);
      byName.set(entry.name, instrumentation);
      log.debug(`instrumentation ${entry.name} loaded`);
    } catch (err) {
      log.error(
        `instrumentation ${JSON.stringify(entry.name)} could not be loaded; continuing without it`,
        err
      );
    }
  };

  // Constructs `entry` on the first message of `channel`, then gives it that message: the
  // subscriptions it makes while being constructed see none of the message in flight.
  const channelWaiters: Array<() => void> = [];
  const constructOnChannel = (
    entry: InstrumentationEntry,
    channel: string
  ): void => {
    const first: ChannelListener = (message, name) => {
      // While recording, only a process that is standalone by now constructs it.
      if (recording && !stopped && !useWhileRecording(entry.name)) return;
      diagnosticsChannel.unsubscribe(channel, first);
      if (stopped || frozen || done.has(entry.name)) return;
      const captured: ChannelListener[] = [];
      const dc = diagnosticsChannel as unknown as {
        subscribe: typeof diagnosticsChannel.subscribe;
      };
      const subscribe = dc.subscribe;
      dc.subscribe = (n, listener) => {
        if (n === channel) captured.push(listener);
        subscribe(n, listener);
      };
      try {
        construct(entry);
      } finally {
        dc.subscribe = subscribe;
      }
      for (const listener of captured) {
        try {
          listener(message, name);
        } catch (err) {
          log.debug(
            `instrumentation ${entry.name} failed on its first message: ${String(err)}`
          );
        }
      }
    };
    diagnosticsChannel.subscribe(channel, first);
    channelWaiters.push(() => diagnosticsChannel.unsubscribe(channel, first));
  };

  // Loads what `name` needs; true when something was constructed just now.
  const loadFor = (name: string | undefined): boolean => {
    if (stopped || name === undefined) return false;
    const list = pending.get(name);
    if (!list) return false;
    for (const entry of list) construct(entry);
    return true;
  };

  // Loads what a require of `request` from `parentFile` needs before it runs; returns true
  // when an instrumentation was constructed just now and the module was loaded through it.
  const beforeRequire = (
    request: string,
    parentFile: string | undefined
  ): boolean => {
    if (pending.size === 0 || request.charCodeAt(0) === 46 /* . */)
      return false;
    const name = moduleNameOf(request);
    if (name === undefined || !pending.has(name)) return false;
    // A require.resolve() loads nothing: neither do we (the app may be probing for an
    // optional dependency).
    if (!isModuleLoad()) return false;
    if (recording) {
      if (!needsLoadNow(name)) {
        if (parentFile !== undefined) noteRequire(name, request, parentFile);
        return false;
      }
      endRecording(name);
    }
    if (!loadFor(name) || parentFile === undefined) return false;
    // The instrumentation's require-in-the-middle hook was installed just now, after this
    // require() passed through Module.prototype.require: load the module once through it, so
    // the hook sees (and patches) this first load; the require in progress then finds it in
    // the module cache.
    createRequire(parentFile)(request);
    return true;
  };
  const useWhileRecording = (what: string): boolean => {
    try {
      return options.onRecordedUse?.(what) === true;
    } catch (err) {
      log.debug(`could not decide on a use of ${what}: ${String(err)}`);
      return false;
    }
  };
  const needsLoadNow = (name: string): boolean =>
    pending.get(name)?.some(e => !CATCH_UP.has(e.name)) === true;
  // Recording: the module loads uninstrumented; what it needs to catch up is put in place.
  const noteRequire = (
    name: string,
    request: string,
    parentFile: string
  ): void => {
    const known = noted.get(name);
    if (known?.cjs) return;
    const entry: Noted = known ?? { name };
    entry.cjs = { request, parentFile };
    noted.set(name, entry);
    if (entry.late === undefined && needsLatePatch(name)) {
      // Loaded here, inside the app's require(): the app then finds it in the cache.
      entry.late = prepareLatePatch(
        name,
        createRequire(parentFile)(request),
        () => useWhileRecording(name)
      );
    }
  };
  // An import while recording, seen at its resolution: the module has not loaded yet.
  const noteImport = (name: string, url: string): void => {
    const entry: Noted = noted.get(name) ?? { name };
    entry.esmUrl ??= url;
    noted.set(name, entry);
    if (entry.late !== undefined || !needsLatePatch(name)) return;
    // A built-in, or a CommonJS package: loaded here through require(), its ES module face
    // is then made from the cached exports, trampolines and all.
    const exports = url.startsWith('node:')
      ? process.getBuiltinModule(url)
      : url.startsWith('file:')
        ? (require(fileURLToPath(url)) as unknown)
        : undefined;
    if (exports !== undefined)
      entry.late = prepareLatePatch(name, exports, () =>
        useWhileRecording(name)
      );
  };
  const replay = (entry: Noted): void => {
    // An imported built-in: its ES module face is re-synced once all are patched.
    if (entry.esmUrl?.startsWith('node:')) builtinsPatched = true;
    entry.late?.beforePatch();
    loadFor(entry.name);
    const instrumentation = INSTRUMENTATIONS.filter(e =>
      e.modules.includes(entry.name)
    )
      .map(e => byName.get(e.name))
      .find(i => i !== undefined);
    try {
      // Required once more, through require-in-the-middle: it patches the cached exports.
      let entryFile: string | undefined;
      if (entry.cjs !== undefined) {
        const from = createRequire(entry.cjs.parentFile);
        from(entry.cjs.request);
        const resolved = from.resolve(entry.cjs.request);
        if (!resolved.startsWith('node:') && resolved.includes('/'))
          entryFile = resolved;
      } else if (entry.esmUrl?.startsWith('node:')) {
        require(entry.esmUrl);
      } else if (entry.esmUrl?.startsWith('file:')) {
        const file = fileURLToPath(entry.esmUrl);
        if (require.cache[file] !== undefined) {
          createRequire(file)(file);
          entryFile = file;
        } else {
          notInstrumented(entry.name);
        }
      }
      if (entryFile !== undefined) {
        for (const file of cachedFilesOf(entryFile, entry.name))
          createRequire(file)(file);
      }
    } catch (err) {
      log.debug(
        `instrumentation of ${entry.name} could not catch up: ${String(err)}`
      );
    }
    entry.late?.afterPatch(instrumentation);
  };
  // Recording ends before a module whose instrumentation cannot catch up loads.
  const endRecording = (name: string): void => {
    try {
      options.onRecordingMustEnd?.(`${name} loads`);
    } catch (err) {
      log.debug(`could not end recording: ${String(err)}`);
    }
    lazy.release();
  };
  const afterImportResolved = (
    specifier: string,
    url: string,
    format: string | null | undefined
  ): void => {
    if (!recording || pending.size === 0) return;
    const name = url.startsWith('node:')
      ? url.slice(5)
      : moduleNameOf(url.startsWith('file:') ? url : specifier);
    if (name === undefined || !pending.has(name)) return;
    if (!needsLoadNow(name)) {
      noteImport(name, url);
      return;
    }
    endRecording(name);
    loadFor(name);
    // import-in-the-middle, registered only now, misses this import: a CommonJS package is
    // loaded here through require-in-the-middle instead, and the ES module face Node makes of
    // it takes the patched exports (also where the patch replaced them, as pino's does).
    const file = url.startsWith('file:') ? fileURLToPath(url) : undefined;
    if (
      file === undefined ||
      !(format === 'commonjs' || (format == null && file.endsWith('.cjs')))
    ) {
      notInstrumented(name);
      return;
    }
    try {
      const patched = createRequire(file)(file) as unknown;
      const cached = require.cache[file];
      if (cached !== undefined && cached.exports !== patched)
        cached.exports = patched;
    } catch (err) {
      log.debug(`instrumentation of ${name} could not apply: ${String(err)}`);
    }
  };
  const onApiRequest = (): void => {
    apiSeen = true;
    try {
      options.onApiLoaded?.();
    } catch (err) {
      log.error('could not connect the OpenTelemetry API', err);
    }
  };
  const onMainResolved = (): void => {
    mainSeen = true;
    try {
      options.onMainLoaded?.();
    } catch (err) {
      log.error('could not note the end of the main module', err);
    }
  };
  const uninstall = installLoadHook({
    isActive: () => !stopped,
    needsApi: () => !apiSeen,
    needsMain: () => !mainSeen,
    beforeRequire,
    afterImportResolved,
    onApiRequest,
    onMainResolved,
  });

  const lazy: LazyInstrumentations = {
    loaded,
    loadEager() {
      if (stopped) return;
      for (const entry of entries) {
        if (entry.modules.length > 0 || METRICS_ONLY.has(entry.name)) continue;
        if (done.has(entry.name)) continue;
        const channel = ON_CHANNEL[entry.name];
        // Recording: the channel is listened to (no OpenTelemetry code), nothing constructed.
        if (channel === undefined) {
          if (!recording) construct(entry);
        } else if (!waiting.has(entry.name)) {
          waiting.add(entry.name);
          constructOnChannel(entry, channel);
        }
      }
    },
    loadUnhooked() {
      if (stopped) return;
      lazy.loadEager();
      const unhooked = entries.filter(e => e.modules.length === 0);
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
    release() {
      if (!recording || stopped) return;
      recording = false;
      const entries = [...noted.values()];
      noted.clear();
      for (const entry of entries) replay(entry);
      // Imports of built-ins made before see the patched functions (their ES module face).
      if (builtinsPatched) syncBuiltinESMExports();
      lazy.loadEager();
    },
    freeze() {
      frozen = true;
      pending.clear();
      for (const unsubscribe of channelWaiters.splice(0)) unsubscribe();
    },
    stop() {
      stopped = true;
      recording = false;
      for (const entry of noted.values()) entry.late?.restore();
      noted.clear();
      for (const unsubscribe of channelWaiters.splice(0)) unsubscribe();
      pending.clear();
      for (const instrumentation of loaded) instrumentation.disable();
      uninstall();
    },
  };
  active = lazy;
  return lazy;
}
