// What the exit path can still send: a ledger of the spans and log records handed to a batch
// processor whose export has not completed, kept by wrappers around the processor and its
// exporter (no private field of the SDK is read). Assembled by src/sdk/pipelines.ts; read by
// src/exit/sync-flush.ts.
import { TraceFlags, type Context } from '@opentelemetry/api';
import type {
  LogRecordProcessor,
  ReadableLogRecord,
  ReadWriteLogRecord,
} from '@opentelemetry/sdk-logs';
import type {
  ReadableSpan,
  Span,
  SpanProcessor,
} from '@opentelemetry/sdk-trace';

/** An exporter as the batch processors see it. */
export interface BatchExporter<T> {
  export(
    items: T[],
    done: (result: { code: number; error?: Error }) => void
  ): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * The items a batch processor was given whose export has not completed yet: queued, held
 * back, or in flight. Items leave when the exporter reports on them, success or failure.
 * Bounded: past `capacity` the oldest entries go (the batch processor itself drops items past
 * its queue size; those would otherwise stay here forever).
 */
export class Ledger<T> {
  readonly #items = new Set<T>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  add(item: T): void {
    if (this.#items.size >= this.#capacity) {
      const oldest = this.#items.values().next();
      if (oldest.done !== true) this.#items.delete(oldest.value);
    }
    this.#items.add(item);
  }

  settle(items: readonly T[]): void {
    for (const item of items) this.#items.delete(item);
  }

  pending(): T[] {
    return [...this.#items];
  }

  /** How many items are pending. */
  get size(): number {
    return this.#items.size;
  }
}

/** Wraps an exporter so that every batch it reports on leaves the ledger. */
export class LedgerExporter<T> implements BatchExporter<T> {
  readonly #inner: BatchExporter<T>;
  readonly #ledger: Ledger<T>;

  constructor(inner: BatchExporter<T>, ledger: Ledger<T>) {
    this.#inner = inner;
    this.#ledger = ledger;
  }

  export(
    items: T[],
    done: (result: { code: number; error?: Error }) => void
  ): void {
    this.#inner.export(items, result => {
      this.#ledger.settle(items);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Puts every sampled span that reaches the batch processor in the ledger first. */
export class LedgerSpanProcessor implements SpanProcessor {
  readonly #inner: SpanProcessor;
  readonly #ledger: Ledger<ReadableSpan>;

  constructor(inner: SpanProcessor, ledger: Ledger<ReadableSpan>) {
    this.#inner = inner;
    this.#ledger = ledger;
  }

  onStart(span: Span, parentContext: Context): void {
    this.#inner.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    // The batch processor keeps sampled spans only; so does the ledger.
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0)
      this.#ledger.add(span);
    this.#inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
}

/** Puts every log record that reaches the batch processor in the ledger first. */
export class LedgerLogRecordProcessor implements LogRecordProcessor {
  readonly #inner: LogRecordProcessor;
  readonly #ledger: Ledger<ReadableLogRecord>;

  constructor(inner: LogRecordProcessor, ledger: Ledger<ReadableLogRecord>) {
    this.#inner = inner;
    this.#ledger = ledger;
  }

  onEmit(logRecord: ReadWriteLogRecord, context?: Context): void {
    this.#ledger.add(logRecord);
    this.#inner.onEmit(logRecord, context);
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
}
