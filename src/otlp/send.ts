// The network half of our OTLP exporters: one unary export over HTTP/1.1 (http/protobuf,
// http/json) or gRPC (HTTP/2, node:http2), with the exporter spec's retries. sdk.ts puts it
// under the SDK's own export delegate (serialisation, concurrency, partial success).
//
// Dev note: why not the OTLP exporters' own transports: their sockets, gRPC deadline timers and
// retry timers are ref'd, so while a collector black-holes a backlog the exports hold a
// finished process open, one OTEL_EXPORTER_OTLP_TIMEOUT per batch (issue #12: a disconnected
// worker alive 40 s later). Here nothing we own keeps the event loop alive: sockets and timers
// are unref'd, so the process ends when the app is done, and the shutdown (shutdown.ts) holds
// it open, within its own bound, only as long as it decides to. Every request has an absolute
// deadline (the http transport's idle timeout never fires against a collector that sends one
// byte a second), and abortAll() cancels whatever is still in flight when the bound is up.
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import {
  connect as http2Connect,
  constants as h2,
  type ClientHttp2Session,
} from 'node:http2';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { gzip } from 'node:zlib';

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
  readonly ca?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly userAgent: string;
}

/** An error of a failed export; `cause` is the short, stable text the one-line report uses. */
export class OtlpSendError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = 'OtlpSendError';
    this.code = code;
  }
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
const GRPC_NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};

// The retry policy of the OTLP exporters (otlp-exporter-base RetryingTransport), with our
// timers unref'd. Ref: https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-throttling
const MAX_ATTEMPTS = 5;
const INITIAL_BACKOFF = 1000;
const MAX_BACKOFF = 5000;
const BACKOFF_MULTIPLIER = 1.5;
const JITTER = 0.2;

function unrefTimer(fn: () => void, ms: number): NodeJS.Timeout {
  const t = setTimeout(fn, Math.max(0, ms));
  t.unref();
  return t;
}

/** Short, stable text for a network error: its code when it has one, never the address. */
function networkError(err: unknown, what: string): OtlpSendError {
  // node:http2 wraps a failed connect in "The pending stream has been canceled": the cause
  // (ECONNREFUSED, ENOTFOUND, a TLS error) is what says what went wrong.
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (
    cause instanceof Error &&
    (err as { code?: unknown }).code === 'ERR_HTTP2_STREAM_CANCEL'
  )
    return networkError(cause, what);
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string')
    return new OtlpSendError(`${what}: ${code} (${message})`, code);
  return new OtlpSendError(`${what}: ${message}`, 'ERROR');
}

// Dev note: a certificate the client does not trust (or TLS spoken to a plain port) fails the
// same way on every attempt: retrying it only hides the cause until the exit bound.
const PERMANENT_TLS =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|^ERR_SSL_|^ERR_TLS_/;

/** A failed send: retried, unless the error is one that no retry can mend. */
function networkFailure(err: unknown, what: string): ExportResponse {
  const error = networkError(err, what);
  return PERMANENT_TLS.test(error.code)
    ? { status: 'failure', error }
    : { status: 'retryable', error };
}

function compress(
  data: Uint8Array,
  compression: 'gzip' | 'none'
): Promise<Buffer> {
  if (compression !== 'gzip') return Promise.resolve(Buffer.from(data));
  return new Promise((resolve, reject) =>
    gzip(data, (err, out) => (err ? reject(err) : resolve(out)))
  );
}

/** `grpc-timeout`: at most 8 digits and a unit. */
function grpcTimeout(ms: number): string {
  return `${Math.max(1, Math.ceil(ms))}m`;
}

class TransportImpl implements OtlpTransport {
  readonly #o: OtlpTransportOptions;
  #agent: HttpAgent | undefined;
  #session: ClientHttp2Session | undefined;
  readonly #cancels = new Set<(reason: string) => void>();

  constructor(options: OtlpTransportOptions) {
    this.#o = options;
    live.add(this);
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    if (halted !== undefined)
      return {
        status: 'failure',
        error: new OtlpSendError(halted, 'ABORTED'),
      };
    const deadline = performance.now() + timeoutMillis;
    let body: Buffer;
    try {
      body = await compress(data, this.#o.compression);
    } catch (err) {
      return { status: 'failure', error: networkError(err, 'compression') };
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
      await new Promise(resolve => unrefTimer(() => resolve(undefined), wait));
      result = await this.#once(body, left - wait);
    }
    return result;
  }

  #once(body: Buffer, timeoutMillis: number): Promise<ExportResponse> {
    return new Promise<ExportResponse>(resolve => {
      let settled = false;
      let cancelRequest: (err: OtlpSendError) => void = () => undefined;
      const finish = (r: ExportResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#cancels.delete(cancel);
        resolve(r);
      };
      const cancel = (reason: string): void => {
        const err = new OtlpSendError(reason, 'ABORTED');
        cancelRequest(err);
        finish({ status: 'failure', error: err });
      };
      // An absolute deadline: a collector that trickles bytes never resets it.
      const timer = unrefTimer(() => {
        const err = new OtlpSendError(
          `no answer within ${Math.round(timeoutMillis)} ms (OTEL_EXPORTER_OTLP_TIMEOUT)`,
          'TIMEOUT'
        );
        cancelRequest(err);
        finish({ status: 'retryable', error: err });
      }, timeoutMillis);
      this.#cancels.add(cancel);
      try {
        cancelRequest =
          this.#o.transport === 'grpc'
            ? this.#grpc(body, timeoutMillis, finish)
            : this.#http(body, finish);
      } catch (err) {
        finish(networkFailure(err, 'export'));
      }
    });
  }

  #http(
    body: Buffer,
    finish: (r: ExportResponse) => void
  ): (err: OtlpSendError) => void {
    const url = new URL(this.#o.url);
    const tls = url.protocol === 'https:';
    this.#agent ??= tls
      ? new HttpsAgent({
          keepAlive: true,
          ca: this.#o.ca,
          key: this.#o.key,
          cert: this.#o.cert,
        })
      : new HttpAgent({ keepAlive: true });
    const req = (tls ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        agent: this.#agent,
        headers: {
          ...this.#o.headers,
          'content-type': this.#o.contentType,
          'content-length': body.byteLength,
          'user-agent': this.#o.userAgent,
          ...(this.#o.compression === 'gzip'
            ? { 'content-encoding': 'gzip' }
            : {}),
        },
      },
      res => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 4 * 1024 * 1024) chunks.push(c);
        });
        res.on('error', err => finish(networkFailure(err, 'response')));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            finish({ status: 'success', data: Buffer.concat(chunks) });
            return;
          }
          const error = new OtlpSendError(`HTTP ${status}`, `HTTP ${status}`);
          const after = Number(res.headers['retry-after']);
          finish(
            RETRYABLE_HTTP.has(status)
              ? {
                  status: 'retryable',
                  error,
                  ...(Number.isFinite(after) && after >= 0
                    ? { retryInMillis: after * 1000 }
                    : {}),
                }
              : { status: 'failure', error }
          );
        });
      }
    );
    // Dev note: the agent refs a socket each time it hands it to a request; ours never hold
    // the process open.
    req.on('socket', socket => socket.unref());
    req.on('error', err => finish(networkFailure(err, 'export')));
    req.end(body);
    return err => req.destroy(err);
  }

  #connect(): ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const endpoint = new URL(this.#o.url);
    const origin = `${this.#o.insecure ? 'http' : 'https'}://${endpoint.host}`;
    const session = http2Connect(origin, {
      ca: this.#o.ca,
      key: this.#o.key,
      cert: this.#o.cert,
    });
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

  #grpc(
    body: Buffer,
    timeoutMillis: number,
    finish: (r: ExportResponse) => void
  ): (err: OtlpSendError) => void {
    const session = this.#connect();
    const fail = (err: unknown): void => finish(networkFailure(err, 'export'));
    session.once('error', fail);
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: this.#o.grpcPath ?? '/',
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      [h2.HTTP2_HEADER_USER_AGENT]: this.#o.userAgent,
      te: 'trailers',
      'grpc-timeout': grpcTimeout(timeoutMillis),
      ...(this.#o.compression === 'gzip'
        ? { 'grpc-encoding': 'gzip', 'grpc-accept-encoding': 'identity,gzip' }
        : {}),
      ...this.#o.headers,
    });
    let status: number | undefined;
    let message = '';
    const take = (headers: Record<string, unknown>): void => {
      const raw = headers['grpc-status'];
      if (typeof raw === 'string' || typeof raw === 'number')
        status = Number(raw);
      const m = headers['grpc-message'];
      if (typeof m === 'string') message = decodeURIComponent(m);
    };
    const chunks: Buffer[] = [];
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', fail);
    stream.on('close', () => {
      session.off('error', fail);
      if (status === 0) {
        const all = Buffer.concat(chunks);
        // One length-prefixed message (5-byte header); a compressed reply is not decoded.
        const data =
          all.length >= 5 && all[0] === 0 ? all.subarray(5) : undefined;
        finish({ status: 'success', ...(data ? { data } : {}) });
        return;
      }
      if (status === undefined) {
        fail(
          new OtlpSendError('the stream closed without a status', 'UNAVAILABLE')
        );
        return;
      }
      const name = GRPC_NAMES[status] ?? 'UNKNOWN';
      const error = new OtlpSendError(
        `${status} ${name}${message ? `: ${message}` : ''}`,
        name
      );
      finish({
        status: RETRYABLE_GRPC.has(status) ? 'retryable' : 'failure',
        error,
      });
    });
    const prefix = Buffer.alloc(5);
    prefix[0] = this.#o.compression === 'gzip' ? 1 : 0;
    prefix.writeUInt32BE(body.byteLength, 1);
    stream.end(Buffer.concat([prefix, body]));
    return () => {
      session.off('error', fail);
      stream.close(h2.NGHTTP2_CANCEL);
      // Never connected (a black hole, a TLS handshake that hangs): the next try reconnects.
      if (session.connecting) session.destroy();
    };
  }

  /** Cancels what is in flight and drops the connections. */
  abort(reason: string): void {
    for (const cancel of [...this.#cancels]) cancel(reason);
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
