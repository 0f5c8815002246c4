// One OTLP/gRPC export over node:http2 (no @grpc/grpc-js): a unary call, fail with an
// OtlpFailure. Used by the SDK transport (transport.ts), the exit-time sender thread and
// otel-launch doctor; loaded only where a send happens.
//
// Dev note: a gRPC unary call is an HTTP/2 POST whose body is one length-prefixed message
// (1 byte "compressed" flag, 4 bytes big-endian length) and whose result is the grpc-status
// trailer. Ref: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
import {
  connect as http2Connect,
  constants as h2,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
} from 'node:http2';
import {
  abortedFailure,
  GRPC_STATUS_NAMES,
  networkFailure,
  OtlpFailure,
  timeoutFailure,
} from './failure.ts';
import type { TlsFiles } from './tls.ts';

/** One call. */
export interface GrpcSendOptions {
  /** The endpoint (scheme, host, port); its path is not used. */
  readonly url: string;
  /** The service method path (OTLP_GRPC_PATHS). */
  readonly path: string;
  /** The serialised request (already gzip-compressed if `gzip`). */
  readonly body: Uint8Array;
  readonly gzip?: boolean | undefined;
  /** Metadata: lower-case HTTP/2 header names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly userAgent?: string | undefined;
  /** Without TLS (h2c). */
  readonly insecure: boolean;
  readonly tls?: TlsFiles | undefined;
  /** A connection of a caller that sends many (see grpcConnect); else one for this call. */
  readonly session?: ClientHttp2Session | undefined;
  /** An absolute deadline, also sent as grpc-timeout. */
  readonly timeoutMillis: number;
  /** Cancels the call; it fails with kind `aborted` and the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** The connection made for this call, and the timer, do not hold the process open. */
  readonly unref?: boolean | undefined;
}

/** A call that ended with grpc-status 0. */
export interface GrpcReply {
  /** The response message, unless it was compressed or absent. */
  readonly data?: Buffer;
}

/** An HTTP/2 connection to a gRPC endpoint; TLS unless `insecure`. */
export function grpcConnect(
  url: string,
  insecure: boolean,
  tls: TlsFiles = {}
): ClientHttp2Session {
  const origin = `${insecure ? 'http' : 'https'}://${new URL(url).host}`;
  return http2Connect(
    origin,
    insecure ? {} : { ca: tls.ca, key: tls.key, cert: tls.cert }
  );
}

/** `grpc-timeout`: at most 8 digits and a unit. */
const grpcTimeout = (ms: number): string => `${Math.max(1, Math.ceil(ms))}m`;

const text = (v: string | string[] | number | undefined): string =>
  Array.isArray(v) ? v.join(',') : v === undefined ? '' : String(v);

/** The outcome of a stream that closed, from its headers and trailers. */
function outcome(
  h: IncomingHttpHeaders,
  rstCode: number,
  data: Buffer
): OtlpFailure | GrpcReply {
  const httpStatus = Number(text(h[':status']) || 0);
  const type = text(h['content-type']);
  const raw = text(h['grpc-status']);
  if (raw === '0') {
    // One length-prefixed message (5-byte header); a compressed reply is not decoded.
    return data.length >= 5 && data[0] === 0 ? { data: data.subarray(5) } : {};
  }
  if (httpStatus === 0)
    return new OtlpFailure(
      `closed the gRPC stream without an answer (HTTP/2 code ${rstCode})`,
      { kind: 'protocol', code: 'UNAVAILABLE' }
    );
  if (httpStatus !== 200 || !type.startsWith('application/grpc'))
    return new OtlpFailure(
      `answered HTTP ${httpStatus}${type === '' ? '' : ` (${type})`} instead of gRPC`,
      {
        kind: 'protocol',
        code: 'UNAVAILABLE',
        status: httpStatus,
        statusText: type,
      }
    );
  if (raw === '')
    return new OtlpFailure('closed the gRPC stream without a status', {
      kind: 'protocol',
      code: 'UNAVAILABLE',
    });
  const status = Number(raw);
  const name = GRPC_STATUS_NAMES[status] ?? 'UNKNOWN';
  const detail = decodeURIComponent(text(h['grpc-message']));
  return new OtlpFailure(`${status} ${name}${detail ? `: ${detail}` : ''}`, {
    kind: 'grpc-status',
    code: name,
    status,
    detail,
  });
}

/**
 * Makes one unary call. Resolves when the server answers grpc-status 0; rejects with an
 * OtlpFailure: `grpc-status` (status, name, grpc-message), `protocol` (no gRPC answer),
 * `timeout`, `aborted`, or the kind of the network error.
 */
export function grpcSend(o: GrpcSendOptions): Promise<GrpcReply> {
  return new Promise<GrpcReply>((resolve, reject) => {
    const own = o.session === undefined;
    let session: ClientHttp2Session;
    try {
      session = o.session ?? grpcConnect(o.url, o.insecure, o.tls);
    } catch (err) {
      reject(networkFailure(err));
      return;
    }
    if (own && o.unref === true) session.unref();
    let settled = false;
    const settle = (result: OtlpFailure | GrpcReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A session of our own may still report its error after the stream's: keep listening.
      if (!own) session.off('error', fail);
      o.signal?.removeEventListener('abort', onAbort);
      if (own) session.destroy();
      if (result instanceof OtlpFailure) reject(result);
      else resolve(result);
    };
    const fail = (err: unknown): void => settle(networkFailure(err));
    const cancel = (failure: OtlpFailure): void => {
      stream.close(h2.NGHTTP2_CANCEL);
      // Never connected (a black hole, a TLS handshake that hangs): the next call reconnects.
      if (session.connecting) session.destroy();
      settle(failure);
    };
    const onAbort = (): void => cancel(abortedFailure(o.signal?.reason));
    session.on('error', fail);
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: o.path,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      ...(o.userAgent === undefined
        ? {}
        : { [h2.HTTP2_HEADER_USER_AGENT]: o.userAgent }),
      te: 'trailers',
      'grpc-timeout': grpcTimeout(o.timeoutMillis),
      ...(o.gzip === true
        ? { 'grpc-encoding': 'gzip', 'grpc-accept-encoding': 'identity,gzip' }
        : {}),
      ...o.headers,
    });
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', h => {
      headers = h;
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      headers = { ...headers, ...t };
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', fail);
    stream.on('close', () =>
      settle(outcome(headers, stream.rstCode, Buffer.concat(chunks)))
    );
    const timer = setTimeout(
      () => cancel(timeoutFailure(o.timeoutMillis)),
      Math.max(0, o.timeoutMillis)
    );
    timer.unref();
    if (o.signal?.aborted === true) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    const prefix = Buffer.alloc(5);
    prefix[0] = o.gzip === true ? 1 : 0;
    prefix.writeUInt32BE(o.body.byteLength, 1);
    stream.end(Buffer.concat([prefix, o.body]));
  });
}
