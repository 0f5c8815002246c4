// The network half of our OTLP exporters: one endpoint's exports through the unary sends
// (http-send.ts, grpc-send.ts), with the exporter spec's retries. sdk/start.ts puts it under
// the SDK's own export delegate (serialisation, concurrency, partial success); SDK bundle.
//
// Dev note: why not the OTLP exporters' own transports: their sockets, gRPC deadline timers and
// retry timers are ref'd, so while a collector black-holes a backlog the exports hold a
// finished process open, one OTEL_EXPORTER_OTLP_TIMEOUT per batch (issue #12: a disconnected
// worker alive 40 s later). Here nothing we own keeps the event loop alive: sockets and timers
// are unref'd, so the process ends when the app is done, and the shutdown (exit/shutdown.ts)
// holds it open, within its own bound, only as long as it decides to. Every request has an
// absolute deadline (the http transport's idle timeout never fires against a collector that
// sends one byte a second), and abortAllExports() cancels whatever is still in flight when
// the bound is up.
import type { Agent } from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import { gzip } from 'node:zlib';
import { abortedFailure, networkFailure, OtlpFailure } from './failure.ts';
import { grpcConnect, grpcSend } from './grpc-send.ts';
import { httpAgent, httpSend } from './http-send.ts';
import type { TlsFiles } from './tls.ts';

/** What the SDK's export delegate expects from a transport (otlp-exporter-base 0.300). */
export type ExportResponse =
  | { status: 'success'; data?: Uint8Array }
  | { status: 'failure'; error: Error }
  | { status: 'retryable'; error: Error; retryInMillis?: number };

/** One OTLP endpoint for one signal. */
export interface OtlpTransport {
  send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse>;
  shutdown(): void;
}

/** Where and how a transport sends. */
export interface OtlpTransportOptions {
  readonly transport: 'grpc' | 'http';
  /** http: the full URL; grpc: the endpoint (scheme, host, port). */
  readonly url: string;
  /** grpc: the service method path. */
  readonly grpcPath?: string;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly compression: 'gzip' | 'none';
  /** grpc: whether the connection goes without TLS. */
  readonly insecure: boolean;
  readonly tls: TlsFiles;
  readonly userAgent: string;
}

// Every live transport, so that the end of a process can cancel what is still in flight.
const live = new Set<TransportImpl>();
/** Set once the shutdown bound is up: every later send fails at once. */
let halted: string | undefined;

/**
 * Cancels every export in flight (they fail with `reason`), closes every connection, and makes
 * every later send fail at once: for the end of the shutdown bound, when the process ends.
 */
export function abortAllExports(reason: string): void {
  halted ??= reason;
  for (const t of live) t.abort(reason);
}

// Ref: https://opentelemetry.io/docs/specs/otlp/#failures (retryable gRPC codes) and
// https://opentelemetry.io/docs/specs/otlp/#failures-1 (retryable HTTP statuses)
const RETRYABLE_GRPC = new Set([1, 4, 10, 11, 14, 15]);
const RETRYABLE_HTTP = new Set([429, 502, 503, 504]);

// The retry policy of the OTLP exporters (otlp-exporter-base RetryingTransport), with our
// timers unref'd. Ref: https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-throttling
const MAX_ATTEMPTS = 5;
const INITIAL_BACKOFF = 1000;
const MAX_BACKOFF = 5000;
const BACKOFF_MULTIPLIER = 1.5;
const JITTER = 0.2;

// Dev note: a certificate the client does not trust (or TLS spoken to a plain port) fails the
// same way on every attempt: retrying it only hides the cause until the exit bound.
const PERMANENT_TLS =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|^ERR_SSL_|^ERR_TLS_/;

/** What the export delegate is told of a failed attempt. */
function toResponse(f: OtlpFailure): ExportResponse {
  switch (f.kind) {
    case 'aborted':
      return { status: 'failure', error: f };
    case 'timeout':
      return {
        status: 'retryable',
        error: new OtlpFailure(`${f.message} (OTEL_EXPORTER_OTLP_TIMEOUT)`, f),
      };
    case 'http-status':
      return RETRYABLE_HTTP.has(f.status ?? 0)
        ? {
            status: 'retryable',
            error: f,
            ...(f.retryAfterMillis === undefined
              ? {}
              : { retryInMillis: f.retryAfterMillis }),
          }
        : { status: 'failure', error: f };
    case 'grpc-status':
      return {
        status: RETRYABLE_GRPC.has(f.status ?? 2) ? 'retryable' : 'failure',
        error: f,
      };
    default: {
      // A network error, or no gRPC answer: the one-line report's "export: CODE (text)".
      const error = new OtlpFailure(
        f.code === 'ERROR' || f.message.startsWith(`${f.code} `)
          ? `export: ${f.message}`
          : `export: ${f.code} (${f.message})`,
        f
      );
      return PERMANENT_TLS.test(f.code)
        ? { status: 'failure', error }
        : { status: 'retryable', error };
    }
  }
}

function compress(
  data: Uint8Array,
  compression: 'gzip' | 'none'
): Promise<Buffer> {
  // Dev note: a view of the serialised request, not a copy of it: the serializer writes each
  // request into a buffer of its own, which nothing else writes to while it is sent or retried.
  if (compression !== 'gzip')
    return Promise.resolve(
      Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    );
  return new Promise((resolve, reject) =>
    gzip(data, (err, out) => (err ? reject(err) : resolve(out)))
  );
}

class TransportImpl implements OtlpTransport {
  readonly #o: OtlpTransportOptions;
  #agent: Agent | undefined;
  #session: ClientHttp2Session | undefined;
  readonly #inFlight = new Set<AbortController>();

  constructor(options: OtlpTransportOptions) {
    this.#o = options;
    live.add(this);
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    if (halted !== undefined)
      return { status: 'failure', error: abortedFailure(halted) };
    const deadline = performance.now() + timeoutMillis;
    let body: Buffer;
    try {
      body = await compress(data, this.#o.compression);
    } catch (err) {
      return {
        status: 'failure',
        error: new OtlpFailure(`compression: ${String(err)}`, {
          kind: 'network',
          code: 'ERROR',
          cause: err,
        }),
      };
    }
    let backoff = INITIAL_BACKOFF;
    let result = await this.#once(body, timeoutMillis);
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      if (result.status !== 'retryable') break;
      const jittered =
        Math.min(backoff, MAX_BACKOFF) * (1 + (Math.random() * 2 - 1) * JITTER);
      backoff *= BACKOFF_MULTIPLIER;
      const wait = result.retryInMillis ?? jittered;
      const left = deadline - performance.now();
      if (wait >= left || halted !== undefined) break;
      await new Promise(resolve =>
        setTimeout(resolve, Math.max(0, wait)).unref()
      );
      result = await this.#once(body, left - wait);
    }
    return result;
  }

  async #once(body: Buffer, timeoutMillis: number): Promise<ExportResponse> {
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const o = this.#o;
    const common = {
      body,
      gzip: o.compression === 'gzip',
      headers: o.headers,
      userAgent: o.userAgent,
      timeoutMillis,
      signal: controller.signal,
    };
    try {
      if (o.transport === 'grpc') {
        const reply = await grpcSend({
          ...common,
          url: o.url,
          path: o.grpcPath ?? '/',
          insecure: o.insecure,
          session: this.#connect(),
        });
        return {
          status: 'success',
          ...(reply.data ? { data: reply.data } : {}),
        };
      }
      this.#agent ??= httpAgent(o.url, o.tls);
      const reply = await httpSend({
        ...common,
        url: o.url,
        contentType: o.contentType,
        agent: this.#agent,
        unref: true,
      });
      return { status: 'success', data: reply.body };
    } catch (err) {
      return toResponse(networkFailure(err));
    } finally {
      this.#inFlight.delete(controller);
    }
  }

  #connect(): ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = grpcConnect(this.#o.url, this.#o.insecure, this.#o.tls);
    session.unref();
    const drop = (): void => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on('error', drop);
    session.on('goaway', drop);
    session.on('close', drop);
    this.#session = session;
    return session;
  }

  /** Cancels what is in flight and drops the connections. */
  abort(reason: string): void {
    for (const c of [...this.#inFlight]) c.abort(reason);
    this.#session?.destroy();
    this.#session = undefined;
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  shutdown(): void {
    this.abort('the exporter was shut down');
    live.delete(this);
  }
}

/** A transport for one signal's endpoint. Never throws; failures come back as responses. */
export function createOtlpTransport(
  options: OtlpTransportOptions
): OtlpTransport {
  return new TransportImpl(options);
}
