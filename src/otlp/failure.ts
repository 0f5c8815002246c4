// A failed OTLP send, structured: what kind of failure, its code, the status a server gave,
// and one line of text. Thrown by the unary sends (http-send.ts, grpc-send.ts); the SDK
// transport, the exit-time sender and otel-launch doctor each word it their own way.

/**
 * - refused, dns, unreachable, reset: the connection (ECONNREFUSED, ENOTFOUND, …)
 * - tls: the TLS handshake or a certificate
 * - protocol: the server does not speak what we spoke (HTTP/1.1, HTTP/2, gRPC)
 * - timeout: no answer within the deadline
 * - aborted: cancelled by the caller
 * - http-status, grpc-status: the server answered, with a failure status
 * - network: any other error
 */
export type OtlpFailureKind =
  | 'refused'
  | 'dns'
  | 'unreachable'
  | 'reset'
  | 'tls'
  | 'protocol'
  | 'timeout'
  | 'aborted'
  | 'http-status'
  | 'grpc-status'
  | 'network';

/** The fields of an {@link OtlpFailure}, besides its one-line message. */
export interface OtlpFailureFields {
  readonly kind: OtlpFailureKind;
  /** Short and stable: an error code (`ECONNREFUSED`), `HTTP 503`, a gRPC status name. */
  readonly code: string;
  /** The HTTP status, or the gRPC status code. */
  readonly status?: number | undefined;
  /** HTTP: the reason phrase. gRPC answered in plain HTTP: the response's content type. */
  readonly statusText?: string | undefined;
  /** What the server said: the HTTP response body as text, or the grpc-message. */
  readonly detail?: string | undefined;
  /** HTTP: the Retry-After the server asked for. */
  readonly retryAfterMillis?: number | undefined;
  /** The error underneath (a network error, unwrapped), if there is one. */
  readonly cause?: unknown;
}

/** A failed send. `message` is one line, without the endpoint's address. */
export class OtlpFailure extends Error implements OtlpFailureFields {
  readonly kind: OtlpFailureKind;
  readonly code: string;
  readonly status: number | undefined;
  readonly statusText: string | undefined;
  readonly detail: string | undefined;
  readonly retryAfterMillis: number | undefined;

  constructor(message: string, fields: OtlpFailureFields) {
    super(message, fields.cause === undefined ? {} : { cause: fields.cause });
    this.name = 'OtlpFailure';
    this.kind = fields.kind;
    this.code = fields.code;
    this.status = fields.status;
    this.statusText = fields.statusText;
    this.detail = fields.detail;
    this.retryAfterMillis = fields.retryAfterMillis;
  }
}

/** gRPC status names by code. Ref: https://grpc.github.io/grpc/core/md_doc_statuscodes.html */
export const GRPC_STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

const TLS_CODES = new Set([
  'EPROTO',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
]);

function kindOf(code: string, message: string): OtlpFailureKind {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'unreachable';
  if (
    TLS_CODES.has(code) ||
    /CERT|^ERR_TLS|^ERR_SSL/.test(code) ||
    /certificate|ssl|tls/i.test(message)
  )
    return 'tls';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code.startsWith('HPE_') || code.startsWith('ERR_HTTP2'))
    return 'protocol';
  return 'network';
}

/**
 * The failure for an error a socket, a request or a session emitted. A stream that node:http2
 * cancelled because its session failed is unwrapped: its cause says what went wrong.
 */
export function networkFailure(err: unknown): OtlpFailure {
  if (err instanceof OtlpFailure) return err;
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (
    cause instanceof Error &&
    (err as { code?: unknown }).code === 'ERR_HTTP2_STREAM_CANCEL'
  )
    return networkFailure(cause);
  const raw = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof raw !== 'string')
    return new OtlpFailure(message, {
      kind: 'network',
      code: 'ERROR',
      cause: err,
    });
  return new OtlpFailure(`${raw} (${message})`, {
    kind: kindOf(raw, message),
    code: raw,
    cause: err,
  });
}

/** The failure of a send that had no answer within `timeoutMillis`. */
export function timeoutFailure(timeoutMillis: number): OtlpFailure {
  return new OtlpFailure(`no answer within ${Math.round(timeoutMillis)} ms`, {
    kind: 'timeout',
    code: 'TIMEOUT',
  });
}

/** The failure of a send its caller cancelled, with the caller's reason. */
export function abortedFailure(reason: unknown): OtlpFailure {
  if (reason instanceof OtlpFailure) return reason;
  const text = reason instanceof Error ? reason.message : String(reason);
  return new OtlpFailure(text, { kind: 'aborted', code: 'ABORTED' });
}
