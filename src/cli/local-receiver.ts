// The OTLP receiver `otel-launch --local` runs in the launcher itself: gRPC and HTTP (protobuf
// and JSON, optionally gzip) on 127.0.0.1, counting what each process sends and, if asked,
// writing every request as one OTLP/JSON line. Loaded only with --local.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type {
  ServerUnaryCall,
  ServiceDefinition,
  sendUnaryData,
} from '@grpc/grpc-js';
import { createWriteStream, type WriteStream } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { Signal } from '../config/types.ts';
import { OTLP_GRPC_PATHS } from '../otlp/endpoint.ts';
import { ProcessTally, type ProcessRow } from './local-report.ts';
import {
  camelKeys,
  countRequest,
  decodeRequest,
  type OtlpJson,
} from '../otlp/codec.ts';

/** A running receiver. */
export interface LocalReceiver {
  /** `http://127.0.0.1:PORT`, for OTLP/gRPC. */
  readonly grpcEndpoint: string;
  /** `http://127.0.0.1:PORT`, the OTLP/HTTP base (append /v1/<signal>). */
  readonly httpEndpoint: string;
  /** One row per process that exported, workers first. */
  rows(): ProcessRow[];
  /** Stops listening and finishes the file; bounded to ~2 s. */
  close(): Promise<void>;
}

/** Options of startLocalReceiver. */
export interface LocalReceiverOptions {
  /** Write every request received, one OTLP/JSON object per line. */
  readonly file?: string | undefined;
  /** Called with one line when something goes wrong (a bad request, the file). */
  readonly onProblem?: (message: string) => void;
}

const SIGNAL_BY_PATH: Record<string, Signal> = {
  '/v1/traces': 'traces',
  '/v1/metrics': 'metrics',
  '/v1/logs': 'logs',
};

/** Starts the receiver on two free loopback ports. Rejects if it cannot listen. */
export async function startLocalReceiver(
  options: LocalReceiverOptions = {}
): Promise<LocalReceiver> {
  const tally = new ProcessTally();
  const problems = new Set<string>();
  const problem = (message: string): void => {
    // Once per kind of problem: a misbehaving client must not flood the terminal.
    if (problems.has(message)) return;
    problems.add(message);
    options.onProblem?.(message);
  };
  let file: WriteStream | undefined;
  if (options.file !== undefined) {
    file = createWriteStream(options.file, { flags: 'w' });
    file.on('error', err =>
      problem(`cannot write ${options.file}: ${err.message}`)
    );
  }
  const receive = (signal: Signal, request: OtlpJson): void => {
    tally.add(countRequest(signal, request));
    file?.write(`${JSON.stringify(request)}\n`);
  };

  const http = createServer((req, res) => {
    handleHttp(req, res, receive, problem);
  });
  http.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  const httpPort = (http.address() as AddressInfo).port;

  let grpc: Server;
  let grpcPort: number;
  try {
    ({ server: grpc, port: grpcPort } = await startGrpc(receive, problem));
  } catch (err) {
    http.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    grpcEndpoint: `http://127.0.0.1:${grpcPort}`,
    httpEndpoint: `http://127.0.0.1:${httpPort}`,
    rows: () => tally.rows(),
    close() {
      closing ??= (async () => {
        grpc.forceShutdown();
        http.closeAllConnections();
        const done = Promise.all([
          new Promise<void>(resolve => http.close(() => resolve())),
          file === undefined
            ? undefined
            : new Promise<void>(resolve => file.end(resolve)),
        ]);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          done,
          new Promise<void>(resolve => {
            timer = setTimeout(resolve, 2000);
            timer.unref();
          }),
        ]);
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}

function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  receive: (signal: Signal, request: OtlpJson) => void,
  problem: (message: string) => void
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
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim();
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
      problem(
        `--local: a ${signal} request over HTTP could not be decoded (${String(err)})`
      );
      reply(400, 'text/plain', 'cannot decode the request');
      return;
    }
    receive(signal, request);
    // An empty ExportServiceResponse: zero bytes in protobuf, {} in JSON.
    if (type === 'application/json') reply(200, type, '{}');
    else reply(200, type, Buffer.alloc(0));
  });
}

function startGrpc(
  receive: (signal: Signal, request: OtlpJson) => void,
  problem: (message: string) => void
): Promise<{ server: Server; port: number }> {
  const server = new Server();
  for (const signal of ['traces', 'metrics', 'logs'] as const) {
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
          problem(
            `--local: a ${signal} request over gRPC could not be decoded (${String(err)})`
          );
          callback({ code: 3, details: 'cannot decode the request' });
          return;
        }
        receive(signal, request);
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
