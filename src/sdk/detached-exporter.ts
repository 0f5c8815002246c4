// Between the SDK's batch processors (and metric reader) and our OTLP exporters: answers each
// export at once and sends it in the background, one at a time, from a bounded queue of its
// own. Built by pipelines.ts for every OTLP pipeline.
//
// Dev note: the batch span and log processors and the metric reader arm a ref'd timer for
// every export they wait on (OTEL_BSP_EXPORT_TIMEOUT, 30 s by default). While a collector
// black-holes a backlog, those timers alone keep a finished process alive, batch after batch
// (issue #12). Answered at once, the processors never wait, so nothing of ours holds the event
// loop; the end of the process waits for this queue only through shutdown.ts, within
// OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS. Memory stays bounded: past `maxItems` queued items the
// oldest batches go, counted as dropped, as the batch processor itself drops spans past its
// queue size.
import { log } from '../diag.ts';

/** The exporter interface the processors and the reader call. */
export interface BatchExporter<T> {
  export(
    items: T,
    done: (result: { code: number; error?: Error }) => void
  ): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

const SUCCESS = 0;

function isAborted(err: Error | undefined): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'ABORTED';
}

/** What a detached exporter still holds and what it could not deliver. */
export interface DetachedState {
  /** Items queued or in flight. */
  readonly pending: number;
  /** Items dropped (queue full) or whose export failed, since the start. */
  readonly lost: number;
  /** The last export error, short. */
  readonly lastError: Error | undefined;
}

/** See the file comment. */
export class DetachedExporter<T> implements BatchExporter<T> {
  readonly #inner: BatchExporter<T>;
  readonly #count: (batch: T) => number;
  readonly #maxItems: number;
  readonly #onDrop: (batch: T) => void;
  readonly #queue: T[] = [];
  #queued = 0;
  #inFlight: T | undefined;
  #inFlightCount = 0;
  #lost = 0;
  #lastError: Error | undefined;
  #idle: (() => void)[] = [];

  constructor(
    inner: BatchExporter<T>,
    options: {
      /** Items in a batch (spans, log records, metric data points). */
      count: (batch: T) => number;
      maxItems: number;
      /** Called for a batch dropped from a full queue. */
      onDrop?: (batch: T) => void;
    }
  ) {
    this.#inner = inner;
    this.#count = options.count;
    this.#maxItems = Math.max(1, options.maxItems);
    this.#onDrop = options.onDrop ?? (() => undefined);
  }

  export(
    batch: T,
    done: (result: { code: number; error?: Error }) => void
  ): void {
    const n = this.#count(batch);
    this.#queue.push(batch);
    this.#queued += n;
    while (this.#queued > this.#maxItems && this.#queue.length > 1) {
      const dropped = this.#queue.shift() as T;
      const m = this.#count(dropped);
      this.#queued -= m;
      this.#lost += m;
      this.#onDrop(dropped);
    }
    done({ code: SUCCESS });
    this.#pump();
  }

  #pump(): void {
    if (this.#inFlight !== undefined) return;
    const next = this.#queue.shift();
    if (next === undefined) {
      for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    const n = this.#count(next);
    this.#queued -= n;
    this.#inFlight = next;
    this.#inFlightCount = n;
    let reported = false;
    try {
      this.#inner.export(next, result => {
        if (reported) return;
        reported = true;
        if (result.code !== SUCCESS) {
          this.#lost += n;
          // Cancelled because the process ends: the shutdown's one line says so, with the
          // cause of the failures before it.
          if (!isAborted(result.error)) {
            this.#lastError = result.error;
            // The processors would have handed this to the global error handler.
            log.exportFailed(result.error ?? new Error('export failed'));
          }
        }
        this.#inFlight = undefined;
        this.#inFlightCount = 0;
        this.#pump();
      });
    } catch (err) {
      reported = true;
      this.#lost += n;
      this.#lastError = err instanceof Error ? err : new Error(String(err));
      this.#inFlight = undefined;
      this.#inFlightCount = 0;
      queueMicrotask(() => this.#pump());
    }
  }

  /** Resolves once everything queued so far has been sent (or has failed). Never rejects. */
  forceFlush(): Promise<void> {
    if (this.#inFlight === undefined && this.#queue.length === 0)
      return Promise.resolve();
    return new Promise(resolve => this.#idle.push(resolve));
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
    await this.#inner.shutdown();
  }

  state(): DetachedState {
    return {
      pending: this.#queued + this.#inFlightCount,
      lost: this.#lost,
      lastError: this.#lastError,
    };
  }
}
