// What the main thread (sync-flush.ts) and the exit-time sender thread (sender-thread.ts) share:
// the request shape, the thread's data and the shared flag's slots. No runtime imports: the SDK
// bundle includes this file, and the sender's node:http2/node:https stay out of every start.
import type { MessagePort } from 'node:worker_threads';

/** One OTLP export request, already serialised. */
export interface ExitRequest {
  readonly signal: string;
  readonly transport: 'grpc' | 'http';
  /** http: the full URL; grpc: the endpoint (scheme, host, port). */
  readonly url: string;
  /** grpc only: the service method path. */
  readonly grpcPath?: string | undefined;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly insecure: boolean;
  readonly ca?: Uint8Array | undefined;
  readonly key?: Uint8Array | undefined;
  readonly cert?: Uint8Array | undefined;
}

export interface ExitSenderData {
  /** Marks the thread's data as ours: sender-thread.js acts only in a thread started with it. */
  readonly otelForksafeExitSender: true;
  /** Int32Array view: [0] done flag, [1] requests that succeeded, [2] requests that failed. */
  readonly flag: SharedArrayBuffer;
  readonly requests: readonly ExitRequest[];
  readonly timeoutMillis: number;
  /** Receives one `{signal, error}` message per failed request (read synchronously). */
  readonly port: MessagePort;
}

/** Index of the slots in the shared flag. */
export const FLAG = { done: 0, ok: 1, failed: 2 } as const;
