// The global meter provider of a process whose role is not known yet: meters and instruments
// taken while the main module loads keep working once the SDK starts (the metrics API has no
// proxy of its own, so without this a module-load meter would stay a no-op forever).
import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';
import type {
  Attributes,
  BatchObservableCallback,
  Context,
  Meter,
  MeterOptions,
  MeterProvider,
  MetricOptions,
  Observable,
  ObservableCallback,
} from '@opentelemetry/api';

// Dev note: the API is taken through require(), not an ES import. This module is loaded the
// moment the app first loads the API; when the app is an ES module importing it, an ES import
// here would re-enter the API's module job while it is still being linked
// (ERR_REQUIRE_CYCLE_MODULE). The API is CommonJS, so require() returns the one instance.
const { createNoopMeter } = createRequire(import.meta.url)(
  '@opentelemetry/api'
) as typeof Api;

/** Bound on buffered measurements per instrument before the SDK starts. */
const MAX_BUFFERED = 1000;

type SyncMethod =
  'createCounter' | 'createUpDownCounter' | 'createHistogram' | 'createGauge';
type AsyncMethod =
  | 'createObservableCounter'
  | 'createObservableUpDownCounter'
  | 'createObservableGauge';

interface SyncInstrument {
  add?(value: number, attributes?: Attributes, context?: Context): void;
  record?(value: number, attributes?: Attributes, context?: Context): void;
}

class DeferredSyncInstrument {
  private real: SyncInstrument | undefined;
  private readonly onMeasurement: () => void;
  private settled = false;
  private buffer: Array<[number, Attributes | undefined, Context | undefined]> =
    [];
  readonly method: SyncMethod;
  readonly name: string;
  readonly options: MetricOptions | undefined;
  constructor(
    method: SyncMethod,
    name: string,
    options: MetricOptions | undefined,
    onMeasurement: () => void
  ) {
    this.method = method;
    this.name = name;
    this.options = options;
    this.onMeasurement = onMeasurement;
  }

  private push(
    value: number,
    attributes?: Attributes,
    context?: Context
  ): void {
    if (!this.settled && this.buffer.length < MAX_BUFFERED) {
      this.buffer.push([value, attributes, context]);
    }
  }

  /** Drops every later measurement. */
  silence(): void {
    this.settled = true;
    this.real = undefined;
    this.buffer = [];
  }

  add(value: number, attributes?: Attributes, context?: Context): void {
    if (!this.settled) this.onMeasurement();
    if (this.real) this.real.add?.(value, attributes, context);
    else this.push(value, attributes, context);
  }

  record(value: number, attributes?: Attributes, context?: Context): void {
    if (!this.settled) this.onMeasurement();
    if (this.real) this.real.record?.(value, attributes, context);
    else this.push(value, attributes, context);
  }

  attach(meter: Meter | undefined): void {
    const buffered = this.buffer;
    this.buffer = [];
    this.settled = true;
    if (!meter) return;
    const real = (
      meter[this.method] as (n: string, o?: MetricOptions) => SyncInstrument
    )(this.name, this.options);
    this.real = real;
    for (const [value, attributes, context] of buffered) {
      if (real.add) real.add(value, attributes, context);
      else real.record?.(value, attributes, context);
    }
  }
}

class DeferredObservable {
  real: Observable | undefined;
  private callbacks: ObservableCallback[] = [];
  readonly method: AsyncMethod;
  readonly name: string;
  readonly options: MetricOptions | undefined;
  constructor(
    method: AsyncMethod,
    name: string,
    options: MetricOptions | undefined
  ) {
    this.method = method;
    this.name = name;
    this.options = options;
  }

  addCallback(callback: ObservableCallback): void {
    if (this.real) this.real.addCallback(callback);
    else this.callbacks.push(callback);
  }

  removeCallback(callback: ObservableCallback): void {
    if (this.real) this.real.removeCallback(callback);
    else this.callbacks = this.callbacks.filter(c => c !== callback);
  }

  attach(meter: Meter | undefined): void {
    if (!meter) return;
    this.real = meter[this.method](this.name, this.options);
    for (const callback of this.callbacks) this.real.addCallback(callback);
    this.callbacks = [];
  }
}

class DeferredMeter implements Meter {
  private real: Meter | undefined;
  private readonly onMeasurement: () => void;
  constructor(onMeasurement: () => void) {
    this.onMeasurement = onMeasurement;
  }
  private readonly sync: DeferredSyncInstrument[] = [];
  private readonly observables: DeferredObservable[] = [];
  private batch: Array<[BatchObservableCallback, Observable[]]> = [];

  private syncInstrument(
    method: SyncMethod,
    name: string,
    options?: MetricOptions
  ): never {
    const instrument = new DeferredSyncInstrument(
      method,
      name,
      options,
      this.onMeasurement
    );
    this.sync.push(instrument);
    if (this.real) instrument.attach(this.real);
    return instrument as never;
  }

  /** Drops every later synchronous measurement of this meter's instruments. */
  silence(): void {
    for (const instrument of this.sync) instrument.silence();
    this.real = createNoopMeter();
  }

  private observable(
    method: AsyncMethod,
    name: string,
    options?: MetricOptions
  ): never {
    if (this.real) return this.real[method](name, options) as never;
    const observable = new DeferredObservable(method, name, options);
    this.observables.push(observable);
    return observable as never;
  }

  createCounter: Meter['createCounter'] = (name, options) =>
    this.syncInstrument('createCounter', name, options);
  createUpDownCounter: Meter['createUpDownCounter'] = (name, options) =>
    this.syncInstrument('createUpDownCounter', name, options);
  createHistogram: Meter['createHistogram'] = (name, options) =>
    this.syncInstrument('createHistogram', name, options);
  createGauge: Meter['createGauge'] = (name, options) =>
    this.syncInstrument('createGauge', name, options);
  createObservableCounter: Meter['createObservableCounter'] = (name, options) =>
    this.observable('createObservableCounter', name, options);
  createObservableUpDownCounter: Meter['createObservableUpDownCounter'] = (
    name,
    options
  ) => this.observable('createObservableUpDownCounter', name, options);
  createObservableGauge: Meter['createObservableGauge'] = (name, options) =>
    this.observable('createObservableGauge', name, options);

  addBatchObservableCallback(
    callback: BatchObservableCallback,
    observables: Observable[]
  ): void {
    if (this.real) this.real.addBatchObservableCallback(callback, observables);
    else this.batch.push([callback, observables]);
  }

  removeBatchObservableCallback(
    callback: BatchObservableCallback,
    observables: Observable[]
  ): void {
    if (this.real)
      this.real.removeBatchObservableCallback(callback, observables);
    else this.batch = this.batch.filter(([c]) => c !== callback);
  }

  attach(meter: Meter | undefined): void {
    for (const instrument of this.sync) instrument.attach(meter);
    for (const observable of this.observables) observable.attach(meter);
    if (meter) {
      this.real = meter;
      // The SDK matches observables by identity: hand it the real ones.
      const toReal = (o: Observable): Observable =>
        o instanceof DeferredObservable ? (o.real ?? o) : o;
      for (const [callback, observables] of this.batch) {
        meter.addBatchObservableCallback(
          result =>
            callback({
              observe: (o, value, attributes) =>
                result.observe(toReal(o), value, attributes),
            }),
          observables.map(toReal)
        );
      }
    } else {
      this.real = createNoopMeter();
    }
    this.batch = [];
  }
}

/**
 * A MeterProvider that hands out meters before the SDK exists and connects them (replaying up
 * to 1,000 buffered measurements per instrument) when `attach` is called.
 */
export class DeferredMeterProvider implements MeterProvider {
  private delegate: MeterProvider | undefined;
  private settled = false;
  private readonly onMeasurement: () => void;
  /**
   * `onMeasurement` is called on each measurement made before the SDK is attached (the first
   * one is what starts it); it must not throw.
   */
  constructor(onMeasurement: () => void = () => undefined) {
    this.onMeasurement = onMeasurement;
  }
  private readonly meters: Array<{
    meter: DeferredMeter;
    name: string;
    version: string | undefined;
    options: MeterOptions | undefined;
  }> = [];

  getMeter(name: string, version?: string, options?: MeterOptions): Meter {
    if (this.settled && !this.delegate) return createNoopMeter();
    const meter = new DeferredMeter(this.onMeasurement);
    this.meters.push({ meter, name, version, options });
    if (this.delegate)
      meter.attach(this.delegate.getMeter(name, version, options));
    return meter;
  }

  /** Connects every meter handed out so far; `undefined` turns them into no-ops for good. */
  attach(provider: MeterProvider | undefined): void {
    this.settled = true;
    this.delegate = provider;
    for (const { meter, name, version, options } of this.meters) {
      meter.attach(provider?.getMeter(name, version, options));
    }
    if (!provider) this.meters.length = 0;
  }

  /**
   * The SDK is shutting down: meters asked for from now on are no-ops (the SDK's provider
   * would refuse them with a warning); those handed out keep what they are connected to.
   */
  close(): void {
    this.settled = true;
    this.delegate = undefined;
  }

  /**
   * From now on every synchronous measurement through meters handed out by this provider is
   * dropped, at once: used when a standalone app forks and becomes a primary.
   */
  silence(): void {
    this.delegate = undefined;
    for (const { meter } of this.meters) meter.silence();
    this.meters.length = 0;
  }
}
