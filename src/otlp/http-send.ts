// One OTLP/HTTP export (http/protobuf, http/json) over node:http(s): POST the body, read the
// answer, fail with an OtlpFailure. Used by the SDK transport (transport.ts), the exit-time
// sender thread and otel-launch doctor; loaded only where a send happens.
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import {
  abortedFailure,
  networkFailure,
  OtlpFailure,
  timeoutFailure,
} from './failure.ts';
import type { TlsFiles } from './tls.ts';

/** One request. */
export interface HttpSendOptions {
  /** The full URL (`…/v1/traces`). */
  readonly url: string;
  /** The body as it goes on the wire (already compressed if `gzip`). */
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body is gzip-compressed: says so in content-encoding. */
  readonly gzip?: boolean | undefined;
  readonly userAgent?: string | undefined;
  /** https only. Ignored when `agent` is given (the agent carries its own). */
  readonly tls?: TlsFiles | undefined;
  /** A keep-alive agent of a caller that sends many (see httpAgent); else one connection. */
  readonly agent?: HttpAgent | undefined;
  /** An absolute deadline: a server that trickles bytes never resets it. */
  readonly timeoutMillis: number;
  /** Cancels the request; it fails with kind `aborted` and the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Sockets and the timer do not hold the process open. */
  readonly unref?: boolean | undefined;
}

/** A 2xx answer. */
export interface HttpReply {
  readonly status: number;
  /** The response body (at most 4 MiB of it). */
  readonly body: Buffer;
}

const MAX_BODY = 4 * 1024 * 1024;

/** A keep-alive agent for `url`'s scheme, with the TLS material for https. */
export function httpAgent(url: string, tls: TlsFiles = {}): HttpAgent {
  return new URL(url).protocol === 'https:'
    ? new HttpsAgent({
        keepAlive: true,
        ca: tls.ca,
        key: tls.key,
        cert: tls.cert,
      })
    : new HttpAgent({ keepAlive: true });
}

function retryAfter(value: string | string[] | undefined): number | undefined {
  const after = Number(value);
  return typeof value === 'string' && Number.isFinite(after) && after >= 0
    ? after * 1000
    : undefined;
}

/**
 * POSTs one export request. Resolves with a 2xx answer; rejects with an OtlpFailure:
 * `http-status` (with the status, reason phrase, body text and Retry-After), `timeout`,
 * `aborted`, or the kind of the network error.
 */
export function httpSend(o: HttpSendOptions): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      req.destroy(abortedFailure(o.signal?.reason));
    };
    const settle = (err: OtlpFailure | undefined, reply?: HttpReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else if (reply) resolve(reply);
    };
    const url = new URL(o.url);
    const tls = url.protocol === 'https:';
    const req = (tls ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        agent: o.agent ?? false,
        ...(tls && o.agent === undefined
          ? { ca: o.tls?.ca, key: o.tls?.key, cert: o.tls?.cert }
          : {}),
        headers: {
          ...o.headers,
          'content-type': o.contentType,
          'content-length': o.body.byteLength,
          ...(o.userAgent === undefined ? {} : { 'user-agent': o.userAgent }),
          ...(o.gzip === true ? { 'content-encoding': 'gzip' } : {}),
        },
      },
      res => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY) chunks.push(c);
        });
        res.on('error', err => settle(networkFailure(err)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const body = Buffer.concat(chunks);
          if (status >= 200 && status < 300) {
            settle(undefined, { status, body });
            return;
          }
          settle(
            new OtlpFailure(`HTTP ${status}`, {
              kind: 'http-status',
              code: `HTTP ${status}`,
              status,
              statusText: res.statusMessage,
              detail: body.toString('utf8'),
              retryAfterMillis: retryAfter(res.headers['retry-after']),
            })
          );
        });
      }
    );
    // An absolute deadline, unref'd: the request's socket is what holds the process, if anything.
    const timer = setTimeout(
      () => req.destroy(timeoutFailure(o.timeoutMillis)),
      Math.max(0, o.timeoutMillis)
    );
    timer.unref();
    // Dev note: an agent refs a socket each time it hands it to a request.
    if (o.unref === true) req.on('socket', socket => socket.unref());
    req.on('error', err => settle(networkFailure(err)));
    if (o.signal?.aborted === true) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(o.body);
  });
}
