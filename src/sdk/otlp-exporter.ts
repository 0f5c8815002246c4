// Our OTLP exporters: the SDK's own export delegate (serialisation, concurrency limit,
// partial-success handling) over our transport (src/otlp/send.ts), built on first use.
// Loaded with the SDK bundle, only in processes that export.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporterBase } from '@opentelemetry/exporter-metrics-otlp-http';
import {
  createOtlpNetworkExportDelegate,
  OTLPExporterBase,
  type ExporterMetrics,
} from '@opentelemetry/otlp-exporter-base';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
  type ISerializer,
} from '@opentelemetry/otlp-transformer';
import {
  AggregationTemporality,
  type InstrumentType,
} from '@opentelemetry/sdk-metrics';
import type { OtlpSignalConfig, Signal } from '../config/types.ts';
import { log } from '../diag.ts';
import { OTLP_GRPC_PATHS, otlpInsecure } from '../otlp/endpoint.ts';
import { readTlsFiles } from '../otlp/tls.ts';
import { createOtlpTransport } from '../otlp/transport.ts';
import { VERSION } from '../version.ts';

// Dev note: each OTLP exporter is the SDK's own export delegate (serialisation, concurrency
// limit, partial-success handling) over our transport (src/otlp/transport.ts), whose sockets and
// timers never hold a finished process open. The exporter packages' transports would (issue
// #12), and loading @grpc/grpc-js is no longer needed to export over gRPC.
function createOtlpExporter(signal: Signal, c: OtlpSignalConfig): unknown {
  const grpc = c.protocol === 'grpc';
  const json = c.protocol === 'http/json';
  const transport = createOtlpTransport({
    transport: grpc ? 'grpc' : 'http',
    url: c.url,
    grpcPath: OTLP_GRPC_PATHS[signal],
    contentType: json ? 'application/json' : 'application/x-protobuf',
    // gRPC metadata keys are lower-case HTTP/2 header names.
    headers: grpc
      ? Object.fromEntries(
          Object.entries(c.headers).map(([k, v]) => [k.toLowerCase(), v])
        )
      : { ...c.headers },
    compression: c.compression,
    insecure: otlpInsecure(c),
    tls: readTlsFiles(c, (role, file, err) =>
      log.error(
        `cannot read the OTLP ${role} file ${JSON.stringify(file)}; exporting without it`,
        err
      )
    ),
    userAgent: `otel-forksafe/${VERSION}`,
  });
  const serializer = {
    traces: json ? JsonTraceSerializer : ProtobufTraceSerializer,
    metrics: json ? JsonMetricsSerializer : ProtobufMetricsSerializer,
    logs: json ? JsonLogsSerializer : ProtobufLogsSerializer,
  }[signal];
  // The SDK's own self-observability (otel.sdk.exporter.*) stays off, as in the exporters
  // when no meter provider is given to them.
  const exporterMetrics = {
    startExport: () => () => undefined,
  } as unknown as ExporterMetrics<unknown>;
  const delegate = createOtlpNetworkExportDelegate(
    // compression is applied by the transport; the delegate reads only the other two.
    {
      timeoutMillis: c.timeoutMillis,
      concurrencyLimit: 30,
      compression: 'none',
    },
    serializer as ISerializer<unknown, unknown>,
    exporterMetrics,
    transport
  );
  return signal === 'metrics'
    ? new OTLPMetricExporterBase(delegate)
    : new OTLPExporterBase(delegate);
}

/** What the processors and readers call on an exporter. */
export interface ExporterLike {
  export(items: unknown, done: (result: ExportResult) => void): void;
  forceFlush?(): Promise<void>;
  shutdown(): Promise<void>;
  selectAggregationTemporality?(type: InstrumentType): AggregationTemporality;
}

/**
 * An OTLP exporter that is built on first use (the first export, or the first collection for
 * metrics) rather than at startup. If it cannot be built, that is said once and what it is
 * given is dropped.
 */
// Dev note: building an OTLP exporter reads its certificate files and loads the export
// delegate, and the first export comes seconds after the app started listening. It defines no
// selectAggregation: the OTLP exporters' default (no aggregationPreference, which no variable
// sets) is the metric reader's own default.
export class DeferredOtlpExporter implements ExporterLike {
  private real: ExporterLike | null | undefined;
  private readonly signal: Signal;
  private readonly config: OtlpSignalConfig;
  constructor(signal: Signal, config: OtlpSignalConfig) {
    this.signal = signal;
    this.config = config;
  }

  private get(): ExporterLike | null {
    if (this.real === undefined) {
      try {
        this.real = createOtlpExporter(
          this.signal,
          this.config
        ) as ExporterLike;
      } catch (err) {
        this.real = null;
        log.error(
          `cannot create the ${this.signal} exporter; ${this.signal} are not exported`,
          err
        );
      }
    }
    return this.real;
  }

  export(items: unknown, done: (result: ExportResult) => void): void {
    const real = this.get();
    // Already reported in one line; the processors need not repeat it for every batch.
    if (!real) done({ code: ExportResultCode.SUCCESS });
    else real.export(items, done);
  }

  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return (
      this.get()?.selectAggregationTemporality?.(type) ??
      AggregationTemporality.CUMULATIVE
    );
  }

  forceFlush(): Promise<void> {
    return this.real?.forceFlush?.() ?? Promise.resolve();
  }

  shutdown(): Promise<void> {
    // Never built: nothing to close, and nothing is built now.
    if (this.real === undefined) this.real = null;
    return this.real?.shutdown() ?? Promise.resolve();
  }
}
