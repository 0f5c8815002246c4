// The thread behind the synchronous flush (sync-flush.ts). At process.exit(), an uncaught
// exception or any other exit that cannot await, the main thread serialises what is still
// pending, starts this thread and blocks in Atomics.wait until it reports: the event loop of a
// thread keeps running while the main thread is blocked. Only node: modules and the unary
// sends (otlp/http-send.ts, otlp/grpc-send.ts) here, so the thread starts in a few tens of
// milliseconds. What the two threads share is in sender-protocol.ts.
import { workerData } from 'node:worker_threads';
import { grpcSend } from '../otlp/grpc-send.ts';
import { httpSend } from '../otlp/http-send.ts';
import type { TlsFiles } from '../otlp/tls.ts';

import {
  FLAG,
  type ExitRequest,
  type ExitSenderData,
} from './sender-protocol.ts';

// Structured cloning hands the thread plain Uint8Arrays; node:tls takes Buffers.
const tlsOf = (r: ExitRequest): TlsFiles => ({
  ca: r.ca && Buffer.from(r.ca),
  key: r.key && Buffer.from(r.key),
  cert: r.cert && Buffer.from(r.cert),
});

async function send(r: ExitRequest, timeoutMillis: number): Promise<void> {
  if (r.transport === 'grpc')
    await grpcSend({
      url: r.url,
      path: r.grpcPath ?? '/',
      body: r.body,
      headers: r.headers,
      insecure: r.insecure,
      tls: tlsOf(r),
      timeoutMillis,
    });
  else
    await httpSend({
      url: r.url,
      body: r.body,
      contentType: r.contentType,
      headers: r.headers,
      tls: tlsOf(r),
      timeoutMillis,
    });
}

async function main(data: ExitSenderData): Promise<void> {
  const flag = new Int32Array(data.flag);
  await Promise.all(
    data.requests.map(async r => {
      try {
        await send(r, data.timeoutMillis);
        Atomics.add(flag, FLAG.ok, 1);
      } catch (err) {
        data.port.postMessage({
          signal: r.signal,
          error: err instanceof Error ? err.message : String(err),
        });
        Atomics.add(flag, FLAG.failed, 1);
      }
    })
  );
  Atomics.store(flag, FLAG.done, 1);
  Atomics.notify(flag, FLAG.done);
}

// Dev note: this file is also part of the SDK bundle (for FLAG), where it must do nothing;
// it runs only as the entry of a thread started by flushSync().
if (
  (workerData as Partial<ExitSenderData> | null)?.otelForksafeExitSender ===
  true
) {
  void main(workerData as ExitSenderData);
}
