// The Prometheus metric reader of a process that exports metrics by pull: collects on demand
// and serializes with the OpenTelemetry Prometheus exporter's own serializer. Built by
// pipelines.ts (inside the SDK bundle) only when OTEL_METRICS_EXPORTER names prometheus.
import type * as PrometheusModule from '@opentelemetry/exporter-prometheus';
import {
  AggregationTemporality,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import { log } from '../diag.ts';
import { loadPrometheusExporter } from './lazy-require.ts';

/** What the scrape side needs from a process's metrics: one serialized exposition. */
export interface PrometheusSource {
  /** This process's metrics in the Prometheus text format. Never rejects. */
  collectText(): Promise<string>;
}

// The resource attributes that become labels on every series, so each worker's series stay
// apart in one scrape (`sum by (service_instance_id)` and a per-pid view both work). The rest
// of the resource goes to target_info, as the exporter does.
// Ref: https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/#resource-attributes-1
const IDENTITY_LABELS = /^(service\.instance\.id|process\.pid)$/;

/**
 * A pull MetricReader (cumulative, as the Prometheus exporter's) plus its text serialization.
 * Never throws from collectText: a failed collection gives a comment line, and one diagnostic.
 */
export class PrometheusPullReader
  extends MetricReader
  implements PrometheusSource
{
  private readonly serializer: PrometheusModule.PrometheusSerializer;
  constructor() {
    super({
      aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
    });
    // Dev note: the serializer is the exporter's (names, units, _total, target_info, scope
    // labels); its HTTP server is not used: one endpoint serves the whole cluster.
    const { PrometheusSerializer } = loadPrometheusExporter();
    this.serializer = new PrometheusSerializer(
      undefined,
      false,
      IDENTITY_LABELS
    );
  }

  async collectText(): Promise<string> {
    try {
      const { resourceMetrics, errors } = await this.collect();
      if (errors.length > 0)
        log.warn(`Prometheus collection had errors: ${String(errors[0])}`);
      return this.serializer.serialize(resourceMetrics);
    } catch (err) {
      log.error('Prometheus collection failed', err);
      return '# collection failed\n';
    }
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}
