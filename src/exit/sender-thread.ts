// The thread behind the synchronous flush (sync-flush.ts). At process.exit(), an uncaught
// exception or any other exit that cannot await, the main thread serialises what is still
// pending, starts this thread and blocks in Atomics.wait until it reports: the event loop of a
// thread keeps running while the main thread is blocked. Only node: modules here, so the
// thread starts in a few tens of milliseconds.
// What the two threads share is in exit-sender-protocol.ts: the SDK bundle imports only that,
// so loading it does not load http2 and https.
import { request as httpRequest } from 'node:http';
import { connect as http2Connect, constants as h2 } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { workerData } from 'node:worker_threads';

import {
  FLAG,
  type ExitRequest,
  type ExitSenderData,
} from './sender-protocol.ts';

function sendHttp(r: ExitRequest, timeoutMillis: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(r.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: 'POST',
        headers: {
          ...r.headers,
          'content-type': r.contentType,
          'content-length': r.body.byteLength,
        },
        ca: r.ca && Buffer.from(r.ca),
        key: r.key && Buffer.from(r.key),
        cert: r.cert && Buffer.from(r.cert),
        timeout: timeoutMillis,
      },
      res => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`HTTP ${status}`));
        });
      }
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(r.body);
  });
}

// Dev note: a gRPC unary call is an HTTP/2 POST whose body is one length-prefixed message
// (1 byte "compressed" flag, 4 bytes big-endian length) and whose result is the grpc-status
// trailer. Speaking it over node:http2 spares the thread from loading @grpc/grpc-js.
function sendGrpc(r: ExitRequest, timeoutMillis: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const endpoint = new URL(r.url);
    const origin = `${r.insecure ? 'http' : 'https'}://${endpoint.host}`;
    const session = http2Connect(origin, {
      ca: r.ca && Buffer.from(r.ca),
      key: r.key && Buffer.from(r.key),
      cert: r.cert && Buffer.from(r.cert),
    });
    const fail = (err: Error): void => {
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    session.setTimeout(timeoutMillis, () => fail(new Error('timeout')));
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: r.grpcPath ?? '/',
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      ...r.headers,
    });
    let status: string | undefined;
    const take = (headers: Record<string, unknown>): void => {
      const value = headers['grpc-status'];
      if (typeof value === 'string' || typeof value === 'number')
        status = String(value);
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('error', fail);
    stream.resume();
    stream.on('close', () => {
      session.close();
      if (status === '0') resolve();
      else reject(new Error(`grpc-status ${status ?? 'missing'}`));
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(r.body.byteLength, 1);
    stream.end(Buffer.concat([prefix, r.body]));
  });
}

async function main(data: ExitSenderData): Promise<void> {
  const flag = new Int32Array(data.flag);
  await Promise.all(
    data.requests.map(async r => {
      try {
        await (r.transport === 'grpc'
          ? sendGrpc(r, data.timeoutMillis)
          : sendHttp(r, data.timeoutMillis));
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
