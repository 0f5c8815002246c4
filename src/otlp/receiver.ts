// The core of an OTLP receiver on 127.0.0.1: gRPC (@grpc/grpc-js) and HTTP (protobuf and
// JSON, optionally gzip) servers that decode each export request to OTLP/JSON form and answer
// with the empty export response. Loaded by `otel-launch --local` and the test sink.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type {
  ServerUnaryCall,
  ServiceDefinition,
  sendUnaryData,
} from '@grpc/grpc-js';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { Signal } from '../config/types.ts';
import { SIGNALS } from '../config/vars.ts';
import { camelKeys, decodeRequest, type OtlpJson } from './codec.ts';
import { OTLP_GRPC_PATHS } from './endpoint.ts';

/** Which wire protocol delivered a request. */
export type ReceivedVia = 'grpc' | 'http/protobuf' | 'http/json';

/** What a receiver does with what it receives. */
export interface ReceiverHandlers {
  /** One decoded export request; `gzip`: it came with content-encoding gzip (HTTP). */
  onRequest(
    signal: Signal,
    request: OtlpJson,
    via: ReceivedVia,
    gzip: boolean
  ): void;
  /** A request that could not be decoded (it is answered 400, or INVALID_ARGUMENT). */
  onUndecodable?(
    signal: Signal,
    transport: 'HTTP' | 'gRPC',
    err: unknown
  ): void;
}

/** A running receiver. */
export interface OtlpReceiver {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The HTTP server, for callers that track its sockets. */
  readonly http: HttpServer;
  /** Drops every connection and stops listening; resolves when the HTTP server has closed. */
  close(): Promise<void>;
}

const SIGNAL_BY_PATH: Readonly<Record<string, Signal>> = {
  '/v1/traces': 'traces',
  '/v1/metrics': 'metrics',
  '/v1/logs': 'logs',
};

function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  handlers: ReceiverHandlers
): void {
  const reply = (status: number, type: string, body: string | Buffer): void => {
    res.statusCode = status;
    res.setHeader('content-type', type);
    res.end(body);
  };
  const signal = SIGNAL_BY_PATH[(req.url ?? '').split('?')[0] ?? ''];
  if (req.method !== 'POST' || signal === undefined) {
    req.resume();
    reply(
      404,
      'text/plain',
      'not found: POST /v1/traces, /v1/metrics or /v1/logs'
    );
    return;
  }
  const type = (req.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim()
    .toLowerCase();
  const encoding = (req.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  if (
    (type !== 'application/x-protobuf' && type !== 'application/json') ||
    (encoding !== 'gzip' && encoding !== 'identity')
  ) {
    req.resume();
    reply(
      415,
      'text/plain',
      'expected application/x-protobuf or application/json'
    );
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('error', () => res.destroy());
  req.on('end', () => {
    let request: OtlpJson;
    try {
      let body = Buffer.concat(chunks);
      if (encoding === 'gzip') body = gunzipSync(body);
      request =
        type === 'application/json'
          ? (camelKeys(JSON.parse(body.toString('utf8'))) as OtlpJson)
          : decodeRequest(signal, body);
    } catch (err) {
      handlers.onUndecodable?.(signal, 'HTTP', err);
      reply(400, 'text/plain', `cannot decode the request: ${String(err)}`);
      return;
    }
    const json = type === 'application/json';
    handlers.onRequest(
      signal,
      request,
      json ? 'http/json' : 'http/protobuf',
      encoding === 'gzip'
    );
    // An empty ExportServiceResponse: zero bytes in protobuf, {} in JSON.
    reply(200, type, json ? '{}' : Buffer.alloc(0));
  });
}

function startGrpc(
  handlers: ReceiverHandlers
): Promise<{ server: Server; port: number }> {
  const server = new Server();
  for (const signal of SIGNALS) {
    const definition: ServiceDefinition = {
      Export: {
        path: OTLP_GRPC_PATHS[signal],
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Uint8Array): Buffer => Buffer.from(v),
        requestDeserialize: (b: Buffer): Buffer => b,
        responseSerialize: (): Buffer => Buffer.alloc(0),
        responseDeserialize: (b: Buffer): Buffer => b,
      },
    };
    server.addService(definition, {
      Export: (
        call: ServerUnaryCall<Buffer, object>,
        callback: sendUnaryData<object>
      ) => {
        let request: OtlpJson;
        try {
          request = decodeRequest(signal, call.request);
        } catch (err) {
          handlers.onUndecodable?.(signal, 'gRPC', err);
          callback({ code: 3, details: 'cannot decode the request' });
          return;
        }
        handlers.onRequest(signal, request, 'grpc', false);
        callback(null, {});
      },
    });
  }
  return new Promise((resolve, reject) => {
    server.bindAsync(
      '127.0.0.1:0',
      ServerCredentials.createInsecure(),
      (err, port) => {
        if (err) {
          server.forceShutdown();
          reject(err);
        } else {
          resolve({ server, port });
        }
      }
    );
  });
}

/** Starts a receiver on two free loopback ports. Rejects if it cannot listen. */
export async function startOtlpReceiver(
  handlers: ReceiverHandlers
): Promise<OtlpReceiver> {
  const http = createServer((req, res) => handleHttp(req, res, handlers));
  http.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  let grpc: { server: Server; port: number };
  try {
    grpc = await startGrpc(handlers);
  } catch (err) {
    http.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    grpcPort: grpc.port,
    httpPort: (http.address() as AddressInfo).port,
    http,
    close() {
      closing ??= new Promise<void>(resolve => {
        grpc.server.forceShutdown();
        http.closeAllConnections();
        http.close(() => resolve());
      });
      return closing;
    },
  };
}
