// `otel-launch doctor`: one real OTLP export per enabled signal to the configured endpoint, and
// per signal either success or the precise cause of failure (refused, timeout, wrong protocol,
// TLS, HTTP or gRPC status with the server's message). Sends with the unary sends of otlp/,
// whose structured failures keep every error's own code.
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type {
  ForksafeConfig,
  OtlpSignalConfig,
  Signal,
} from '../config/types.ts';
import { SIGNALS } from '../config/vars.ts';
import { OTLP_GRPC_PATHS, otlpInsecure } from '../otlp/endpoint.ts';
import { encodeRequest, type OtlpJson } from '../otlp/codec.ts';
import { networkFailure, type OtlpFailure } from '../otlp/failure.ts';
import { grpcSend } from '../otlp/grpc-send.ts';
import { httpSend } from '../otlp/http-send.ts';
import { readTlsFiles, type TlsFiles } from '../otlp/tls.ts';

/** The verdict for one signal. */
export interface DoctorResult {
  readonly signal: Signal;
  /** `grpc`, `http/protobuf`, `http/json`, or the exporter when it is not OTLP. */
  readonly protocol: string;
  readonly url: string;
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly message: string;
}

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

/**
 * A sentence for a failed send: what happened and what to try. `protocol` is the protocol we
 * spoke, so a server answering in the other one is named.
 */
export function explainFailure(
  f: OtlpFailure,
  c: Pick<OtlpSignalConfig, 'protocol' | 'url' | 'timeoutMillis'>
): string {
  const url = new URL(c.url);
  const grpc = c.protocol === 'grpc';
  const where = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  const cause = f.cause instanceof Error ? f.cause.message : f.message;
  switch (f.kind) {
    case 'refused':
      return `connection refused at ${where}: nothing listens there (is the collector running, and on this port?)`;
    case 'dns':
      return `host ${url.hostname} not found (DNS: ${f.code})`;
    case 'unreachable':
      return `${where} is unreachable (${f.code})`;
    case 'tls': {
      const hint = /wrong version number|packet length too long/i.test(cause)
        ? '; the server does not speak TLS there: use http:// instead of https://'
        : '';
      return `TLS failed: ${clip(cause)}${hint}`;
    }
    case 'timeout':
      return `no answer within ${c.timeoutMillis} ms (the exporter timeout): a firewall dropping packets, or a server that accepts connections but does not answer OTLP`;
    case 'reset':
      return `${where} closed the connection without an answer (${f.code}); a server speaking another protocol${grpc ? ' (HTTP/1.1 instead of gRPC?)' : ' (gRPC instead of HTTP/1.1?)'}, or a proxy refusing it`;
    case 'http-status':
      return `HTTP ${f.status} ${f.statusText ?? ''} from ${c.url}${f.detail ? `: ${clip(f.detail)}` : ''}${f.status === 404 ? ' (is the path right? a per-signal endpoint is used as is)' : ''}`;
    case 'grpc-status':
      return `gRPC status ${f.message}${f.status === 12 ? ' (the server has no such OTLP service: is it a collector?)' : ''}${f.status === 16 ? ' (check OTEL_EXPORTER_OTLP_HEADERS)' : ''}`;
    case 'protocol':
      if (!grpc && f.code.startsWith('HPE_'))
        return `wrong protocol: ${where} did not answer in HTTP/1.1 (${f.code}); it looks like an OTLP/gRPC port (4317): use --exporter-otlp-protocol grpc, or the HTTP port (4318)`;
      if (grpc && f.code.startsWith('ERR_HTTP2'))
        return `wrong protocol: ${where} did not answer in HTTP/2 (${f.code}: ${cause}); it looks like an OTLP/HTTP port (4318): use --exporter-otlp-protocol http/protobuf, or the gRPC port (4317)`;
      if (grpc && f.status !== undefined)
        return `wrong protocol: ${url.host} ${f.message}; it looks like an OTLP/HTTP endpoint: use --exporter-otlp-protocol http/protobuf`;
      if (grpc) return `${url.host} ${f.message}`;
      break;
    default:
      break;
  }
  return f.cause instanceof Error
    ? `${f.code === 'ERROR' ? '' : `${f.code}: `}${cause}`
    : f.message;
}

/** The endpoint's TLS files; one that cannot be read fails the check with a sentence. */
function tlsOf(c: OtlpSignalConfig): TlsFiles {
  return readTlsFiles(c, (role, file, err) => {
    throw new DoctorError(
      `cannot read the ${role} file ${file}: ${err.message}`
    );
  });
}

/** Sends the sample request of `signal` once; resolves with the verdict's text. */
async function sendOnce(
  signal: Signal,
  c: OtlpSignalConfig,
  request: OtlpJson
): Promise<string> {
  const gzip = c.compression === 'gzip';
  if (c.protocol === 'grpc') {
    const insecure = otlpInsecure(c);
    const message = Buffer.from(encodeRequest(signal, request));
    await grpcSend({
      url: c.url,
      path: OTLP_GRPC_PATHS[signal],
      body: gzip ? gzipSync(message) : message,
      gzip,
      // gRPC metadata keys are lower-case HTTP/2 header names.
      headers: Object.fromEntries(
        Object.entries(c.headers).map(([k, v]) => [k.toLowerCase(), v])
      ),
      insecure,
      tls: insecure ? {} : tlsOf(c),
      timeoutMillis: c.timeoutMillis,
    });
    return 'accepted (gRPC OK)';
  }
  const json = c.protocol === 'http/json';
  const payload = json
    ? Buffer.from(JSON.stringify(request))
    : Buffer.from(encodeRequest(signal, request));
  const reply = await httpSend({
    url: c.url,
    body: gzip ? gzipSync(payload) : payload,
    gzip,
    contentType: json ? 'application/json' : 'application/x-protobuf',
    headers: c.headers,
    tls: new URL(c.url).protocol === 'https:' ? tlsOf(c) : {},
    timeoutMillis: c.timeoutMillis,
  });
  return `accepted (HTTP ${reply.status})`;
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
      try {
        const message = await sendOnce(
          signal,
          c,
          sampleRequest(signal, serviceName)
        );
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
          message:
            err instanceof DoctorError
              ? err.message
              : explainFailure(networkFailure(err), c),
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
