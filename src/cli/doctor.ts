// `otel-launch doctor`: one real OTLP export per enabled signal to the configured endpoint, and
// per signal either success or the precise cause of failure (refused, timeout, wrong protocol,
// TLS, HTTP or gRPC status with the server's message). Uses node:http(s) and node:http2 directly
// so every failure keeps its own error code.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import {
  connect as http2Connect,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
} from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { gzipSync } from 'node:zlib';
import type {
  ForksafeConfig,
  OtlpSignalConfig,
  Signal,
} from '../config/types.ts';
import { OTLP_GRPC_PATHS, otlpInsecure } from '../otlp/endpoint.ts';
import { encodeRequest, type OtlpJson } from '../otlp/codec.ts';

/** The verdict for one signal. */
export interface DoctorResult {
  readonly signal: Signal;
  /** `grpc`, `http/protobuf`, `http/json`, or the exporter when it is not OTLP. */
  readonly protocol: string;
  readonly url: string;
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly message: string;
}

const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];

/** A failure with a sentence meant for the user. */
class DoctorError extends Error {}

/** One small, valid export request of `signal` for `serviceName`. */
export function sampleRequest(signal: Signal, serviceName: string): OtlpJson {
  const now = BigInt(Date.now()) * 1_000_000n;
  const resource = {
    attributes: [{ key: 'service.name', value: { stringValue: serviceName } }],
  };
  const scope = { name: 'otel-launch-doctor' };
  if (signal === 'traces') {
    return {
      resourceSpans: [
        {
          resource,
          scopeSpans: [
            {
              scope,
              spans: [
                {
                  traceId: randomBytes(16).toString('hex'),
                  spanId: randomBytes(8).toString('hex'),
                  name: 'otel-launch doctor',
                  kind: 1,
                  startTimeUnixNano: String(now - 1_000_000n),
                  endTimeUnixNano: String(now),
                },
              ],
            },
          ],
        },
      ],
    };
  }
  if (signal === 'metrics') {
    return {
      resourceMetrics: [
        {
          resource,
          scopeMetrics: [
            {
              scope,
              metrics: [
                {
                  name: 'otel_launch.doctor',
                  gauge: {
                    dataPoints: [{ timeUnixNano: String(now), asInt: '1' }],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
  }
  return {
    resourceLogs: [
      {
        resource,
        scopeLogs: [
          {
            scope,
            logRecords: [
              {
                timeUnixNano: String(now),
                severityNumber: 9,
                severityText: 'INFO',
                body: { stringValue: 'otel-launch doctor' },
              },
            ],
          },
        ],
      },
    ],
  };
}

const clip = (text: string): string => {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 300 ? `${one.slice(0, 300)}…` : one;
};

const TLS_CODES = new Set([
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A sentence for a transport error: what happened and what to try. `protocol` is the protocol
 * we spoke, so a server answering in the other one is named.
 */
export function explainError(
  err: NodeJS.ErrnoException,
  protocol: string,
  url: URL
): string {
  // A stream cancelled because its session failed carries the session's error as its cause.
  if (err.code === 'ERR_HTTP2_STREAM_CANCEL' && err.cause instanceof Error) {
    return explainError(err.cause, protocol, url);
  }
  const code = err.code ?? '';
  const where = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  if (err instanceof DoctorError) return err.message;
  if (code === 'ECONNREFUSED') {
    return `connection refused at ${where}: nothing listens there (is the collector running, and on this port?)`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `host ${url.hostname} not found (DNS: ${code})`;
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return `${where} is unreachable (${code})`;
  }
  if (
    TLS_CODES.has(code) ||
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    /certificate|ssl|tls/i.test(err.message)
  ) {
    const hint = /wrong version number|packet length too long/i.test(
      err.message
    )
      ? '; the server does not speak TLS there: use http:// instead of https://'
      : '';
    return `TLS failed: ${clip(err.message)}${hint}`;
  }
  if (protocol !== 'grpc' && code.startsWith('HPE_')) {
    return `wrong protocol: ${where} did not answer in HTTP/1.1 (${code}); it looks like an OTLP/gRPC port (4317): use --exporter-otlp-protocol grpc, or the HTTP port (4318)`;
  }
  if (protocol === 'grpc' && code.startsWith('ERR_HTTP2')) {
    return `wrong protocol: ${where} did not answer in HTTP/2 (${code}: ${err.message}); it looks like an OTLP/HTTP port (4318): use --exporter-otlp-protocol http/protobuf, or the gRPC port (4317)`;
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return `${where} closed the connection without an answer (${code}); a server speaking another protocol${protocol === 'grpc' ? ' (HTTP/1.1 instead of gRPC?)' : ' (gRPC instead of HTTP/1.1?)'}, or a proxy refusing it`;
  }
  return `${code === '' ? '' : `${code}: `}${err.message}`;
}

function tlsOptions(c: OtlpSignalConfig): {
  ca?: Buffer;
  key?: Buffer;
  cert?: Buffer;
} {
  const read = (path: string | undefined, what: string): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new DoctorError(
        `cannot read the ${what} file ${path}: ${(err as Error).message}`
      );
    }
  };
  const out: { ca?: Buffer; key?: Buffer; cert?: Buffer } = {};
  const ca = read(c.certificateFile, 'certificate');
  const key = read(c.clientKeyFile, 'client key');
  const cert = read(c.clientCertificateFile, 'client certificate');
  if (ca) out.ca = ca;
  if (key) out.key = key;
  if (cert) out.cert = cert;
  return out;
}

function timeoutError(ms: number): DoctorError {
  return new DoctorError(
    `no answer within ${ms} ms (the exporter timeout): a firewall dropping packets, or a server that accepts connections but does not answer OTLP`
  );
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise(resolve => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

async function sendHttp(
  signal: Signal,
  c: OtlpSignalConfig,
  body: OtlpJson
): Promise<string> {
  const url = new URL(c.url);
  const isJson = c.protocol === 'http/json';
  let payload: Buffer = isJson
    ? Buffer.from(JSON.stringify(body))
    : Buffer.from(encodeRequest(signal, body));
  const headers: Record<string, string> = {
    ...c.headers,
    'content-type': isJson ? 'application/json' : 'application/x-protobuf',
  };
  if (c.compression === 'gzip') {
    payload = gzipSync(payload);
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = String(payload.length);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const tls = url.protocol === 'https:' ? tlsOptions(c) : {};
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      { method: 'POST', headers, agent: false, ...tls },
      res => {
        void readBody(res).then(text => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(`accepted (HTTP ${status})`);
          } else {
            reject(
              new DoctorError(
                `HTTP ${status} ${res.statusMessage ?? ''} from ${c.url}${text === '' ? '' : `: ${clip(text)}`}${status === 404 ? ' (is the path right? a per-signal endpoint is used as is)' : ''}`
              )
            );
          }
        });
      }
    );
    const timer = setTimeout(
      () => req.destroy(timeoutError(c.timeoutMillis)),
      c.timeoutMillis
    );
    req.on('error', err => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}

const GRPC_STATUS = [
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

const headerText = (value: string | string[] | number | undefined): string =>
  Array.isArray(value)
    ? value.join(',')
    : value === undefined
      ? ''
      : String(value);

// Ref: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md (framing, headers, trailers)
async function sendGrpc(
  signal: Signal,
  c: OtlpSignalConfig,
  body: OtlpJson
): Promise<string> {
  const url = new URL(c.url);
  const insecure = otlpInsecure(c);
  const authority = `${insecure ? 'http' : 'https'}://${url.host}`;
  let message = Buffer.from(encodeRequest(signal, body));
  const compressed = c.compression === 'gzip';
  if (compressed) message = gzipSync(message);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(compressed ? 1 : 0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.headers)) {
    metadata[k.toLowerCase()] = v;
  }
  return new Promise((resolve, reject) => {
    let session: ClientHttp2Session | undefined;
    const finish = (err: Error | undefined, text?: string): void => {
      clearTimeout(timer);
      session?.destroy();
      if (err) reject(err);
      else resolve(text ?? '');
    };
    const timer = setTimeout(
      () => finish(timeoutError(c.timeoutMillis)),
      c.timeoutMillis
    );
    try {
      session = http2Connect(authority, insecure ? {} : tlsOptions(c));
    } catch (err) {
      finish(err as Error);
      return;
    }
    session.on('error', (err: Error) => finish(err));
    const stream = session.request({
      ':method': 'POST',
      ':path': OTLP_GRPC_PATHS[signal],
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(compressed ? { 'grpc-encoding': 'gzip' } : {}),
      ...metadata,
    });
    let headers: IncomingHttpHeaders = {};
    stream.on('response', h => {
      headers = h;
    });
    stream.on('trailers', (trailers: IncomingHttpHeaders) => {
      headers = { ...headers, ...trailers };
    });
    stream.on('error', (err: Error) => finish(err));
    stream.resume();
    stream.on('close', () => {
      const status = Number(headerText(headers[':status']) || 0);
      const type = headerText(headers['content-type']);
      if (status === 0) {
        finish(
          new DoctorError(
            `${url.host} closed the gRPC stream without an answer (HTTP/2 code ${stream.rstCode})`
          )
        );
      } else if (status !== 200 || !type.startsWith('application/grpc')) {
        finish(
          new DoctorError(
            `wrong protocol: ${url.host} answered HTTP ${status}${type === '' ? '' : ` (${type})`} instead of gRPC; it looks like an OTLP/HTTP endpoint: use --exporter-otlp-protocol http/protobuf`
          )
        );
      } else {
        const code = Number(headerText(headers['grpc-status']) || -1);
        const detail = decodeURIComponent(headerText(headers['grpc-message']));
        if (code === 0) {
          finish(undefined, 'accepted (gRPC OK)');
        } else {
          finish(
            new DoctorError(
              `gRPC status ${code} ${GRPC_STATUS[code] ?? ''}${detail === '' ? '' : `: ${detail}`}${code === 12 ? ' (the server has no such OTLP service: is it a collector?)' : ''}${code === 16 ? ' (check OTEL_EXPORTER_OTLP_HEADERS)' : ''}`
            )
          );
        }
      }
    });
    stream.end(frame);
  });
}

/** Checks every signal of `config`, all at once. Never throws. */
export async function runDoctor(
  config: ForksafeConfig
): Promise<DoctorResult[]> {
  const serviceName = config.serviceName ?? 'unknown_service:node';
  const otlpResults = Promise.all(
    SIGNALS.map(async (signal): Promise<DoctorResult> => {
      const c = config.otlp[signal];
      const exporters: readonly string[] = config.exporters[signal];
      if (!exporters.includes('otlp')) {
        return {
          signal,
          protocol: exporters.join(',') || 'none',
          url: '-',
          status: 'skipped',
          message: `exporter ${exporters.join(',') || 'none'}: nothing to check`,
        };
      }
      const body = sampleRequest(signal, serviceName);
      try {
        const message =
          c.protocol === 'grpc'
            ? await sendGrpc(signal, c, body)
            : await sendHttp(signal, c, body);
        return {
          signal,
          protocol: c.protocol,
          url: c.url,
          status: 'ok',
          message,
        };
      } catch (err) {
        return {
          signal,
          protocol: c.protocol,
          url: c.url,
          status: 'failed',
          message: explainError(
            err as NodeJS.ErrnoException,
            c.protocol,
            new URL(c.url)
          ),
        };
      }
    })
  );
  if (!config.exporters.metrics.includes('prometheus')) return otlpResults;
  const { checkPrometheus } = await import('./prometheus-check.ts');
  const [results, prom] = await Promise.all([
    otlpResults,
    checkPrometheus(config.prometheus),
  ]);
  // The Prometheus line says more than "metrics: nothing to check".
  return [
    ...results.filter(r => r.signal !== 'metrics' || r.status !== 'skipped'),
    {
      signal: 'metrics',
      protocol: 'prometheus',
      url: prom.url,
      status: prom.ok ? 'ok' : 'failed',
      message: prom.message,
    },
  ];
}

/** The verdicts as aligned text, one line per signal. */
export function formatDoctor(results: readonly DoctorResult[]): string {
  const w = (k: 'protocol' | 'url'): number =>
    Math.max(...results.map(r => r[k].length));
  return `${results
    .map(
      r =>
        `${r.signal.padEnd(8)}${r.protocol.padEnd(w('protocol') + 2)}${r.url.padEnd(w('url') + 2)}${r.status === 'ok' ? 'OK' : r.status === 'failed' ? 'FAILED' : 'skipped'}: ${r.message}`
    )
    .join('\n')}\n`;
}
