// The global tracer provider of a process whose role is not known yet: tracers taken while the
// main module loads start real spans once the SDK starts, and no-op spans in a primary.
import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';
import type {
  Context,
  Span,
  SpanOptions,
  Tracer,
  TracerOptions,
  TracerProvider,
} from '@opentelemetry/api';

// Dev note: the API is taken through require(), not an ES import. This module is loaded the
// moment the app first loads the API; when the app is an ES module importing it, an ES import
// here would re-enter the API's module job while it is still being linked
// (ERR_REQUIRE_CYCLE_MODULE). The API is CommonJS, so require() returns the one instance.
const { context, ROOT_CONTEXT, ProxyTracerProvider } = createRequire(
  import.meta.url
)('@opentelemetry/api') as typeof Api;

const NOOP_TRACER_PROVIDER = new ProxyTracerProvider();

class DeferredTracer implements Tracer {
  private real: Tracer | undefined;
  private readonly provider: DeferredTracerProvider;
  private readonly name: string;
  private readonly version: string | undefined;
  private readonly options: TracerOptions | undefined;
  constructor(
    provider: DeferredTracerProvider,
    name: string,
    version: string | undefined,
    options: TracerOptions | undefined
  ) {
    this.provider = provider;
    this.name = name;
    this.version = version;
    this.options = options;
  }

  private resolve(): Tracer {
    if (this.provider.isSilenced())
      return NOOP_TRACER_PROVIDER.getTracer(this.name);
    if (this.real) return this.real;
    const delegate = this.provider.resolveDelegate();
    const tracer = (delegate ?? NOOP_TRACER_PROVIDER).getTracer(
      this.name,
      this.version,
      this.options
    );
    if (delegate) this.real = tracer;
    return tracer;
  }

  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    const first = !this.provider.isSettled();
    const tracer = this.resolve();
    // Dev note: the span that starts the SDK was given the context that was active before any
    // context manager existed, always ROOT_CONTEXT; the SDK's manager may know better (the
    // process's root context from TRACEPARENT, see env-context.ts).
    if (first && ctx === ROOT_CONTEXT) ctx = context.active();
    return tracer.startSpan(name, options, ctx);
  }

  startActiveSpan: Tracer['startActiveSpan'] = (...args: unknown[]) => {
    const tracer = this.resolve();
    // eslint-disable-next-line @typescript-eslint/unbound-method -- applied to its own tracer
    return Reflect.apply(tracer.startActiveSpan, tracer, args) as never;
  };
}

/**
 * A TracerProvider for the undecided phase: the first span started through it asks the preload
 * to settle the role (`onFirstSpan`), so spans made while the main module loads are recorded.
 */
export class DeferredTracerProvider implements TracerProvider {
  private delegate: TracerProvider | undefined;
  private settled = false;
  private silenced = false;
  private readonly onFirstSpan: () => void;
  constructor(onFirstSpan: () => void) {
    this.onFirstSpan = onFirstSpan;
  }

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    return new DeferredTracer(this, name, version, options);
  }

  /** @internal true once the role was settled (first span, attach or silence). */
  isSettled(): boolean {
    return this.settled;
  }

  /** @internal true once silence() was called. */
  isSilenced(): boolean {
    return this.silenced;
  }

  /** Every tracer handed out goes no-op at once (a standalone app that became a primary). */
  silence(): void {
    this.silenced = true;
    this.delegate = undefined;
  }

  /** @internal the real provider, asking once (on the first span) for the role to be settled. */
  resolveDelegate(): TracerProvider | undefined {
    if (!this.settled) {
      this.settled = true;
      this.onFirstSpan();
    }
    return this.delegate;
  }

  /** Points every tracer at `provider`; `undefined` makes them no-ops for good. */
  attach(provider: TracerProvider | undefined): void {
    this.settled = true;
    this.delegate = provider;
  }
}
