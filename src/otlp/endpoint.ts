// Facts about an OTLP endpoint that the exporters (src/sdk/), the exit-time sender
// (sync-flush.ts) and otel-launch doctor must agree on. Types only from src/config/types.ts, so the SDK
// bundle does not carry the config reader.
import type { OtlpSignalConfig, Signal } from '../config/types.ts';

/** gRPC method path of each signal's collector service (opentelemetry-proto collector/v1). */
export const OTLP_GRPC_PATHS: Readonly<Record<Signal, string>> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

/**
 * Whether a signal's OTLP connection goes without TLS.
 * Ref: exporter spec, OTEL_EXPORTER_OTLP_INSECURE: it applies to gRPC only; otherwise, and
 * when it is unset, the endpoint's scheme decides.
 */
export function otlpInsecure(c: OtlpSignalConfig): boolean {
  const plain = new URL(c.url).protocol === 'http:';
  return c.protocol === 'grpc' ? (c.insecure ?? plain) : plain;
}
