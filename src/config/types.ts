// The shape of otel-forksafe's configuration (ForksafeConfig) and its parts. Types only: every
// area imports them, and importing them loads nothing.
import type { ConfigFileSetting } from './config-file-var.ts';
import type { LogLevelName } from '../diag.ts';

/** A telemetry signal. */
export type Signal = 'traces' | 'metrics' | 'logs';
/** OTEL_EXPORTER_OTLP_PROTOCOL values. */
export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
/** OTEL_{TRACES,METRICS,LOGS}_EXPORTER values we act on ('none' empties the list). */
export type ExporterName = 'otlp' | 'console';
/** OTEL_METRICS_EXPORTER also takes `prometheus` (a pull endpoint; see src/prometheus/). */
export type MetricExporterName = ExporterName | 'prometheus';
/** OTEL_TRACES_SAMPLER values. */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** Where a value came from, for diagnostics and `otel-launch --print-config`. */
export type ValueSource = 'env' | 'default';

/** The OTLP exporter settings of one signal, per-signal variables already merged in. */
export interface OtlpSignalConfig {
  readonly protocol: OtlpProtocol;
  /** Final URL: for http/* it ends in /v1/<signal>; for gRPC it is the base endpoint. */
  readonly url: string;
  readonly urlSource: ValueSource;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMillis: number;
  readonly compression: 'gzip' | 'none';
  /** gRPC only: OTEL_EXPORTER_OTLP_INSECURE; undefined means "follow the URL scheme". */
  readonly insecure: boolean | undefined;
  readonly certificateFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  readonly clientCertificateFile: string | undefined;
}

/** Batch processor settings (OTEL_BSP_* / OTEL_BLRP_*). */
export interface BatchConfig {
  readonly scheduledDelayMillis: number;
  readonly exportTimeoutMillis: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
}

/** Where the Prometheus scrape endpoint listens (used when OTEL_METRICS_EXPORTER has prometheus). */
export interface PrometheusConfig {
  /** OTEL_EXPORTER_PROMETHEUS_HOST, default `localhost`. */
  readonly host: string;
  /** OTEL_EXPORTER_PROMETHEUS_PORT, default 9464. */
  readonly port: number;
}

/** OTEL_FORKSAFE_THREADS values. */
export type ThreadsMode = 'dormant' | 'export';

/** Identity a worker received from the primary's fork patch (internal env markers). */
export interface WorkerMarker {
  readonly slot: number;
  readonly primaryPid: number;
  readonly instanceBase: string;
}

/** Everything the preload needs, read once per process. */
export interface ForksafeConfig {
  readonly disabled: boolean;
  /** OTEL_CONFIG_FILE: read where the SDK starts (src/config/config-file.ts), not here. */
  readonly configFile: ConfigFileSetting | undefined;
  readonly serviceName: string | undefined;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly exporters: {
    readonly traces: readonly ExporterName[];
    readonly metrics: readonly MetricExporterName[];
    readonly logs: readonly ExporterName[];
  };
  /** OTEL_EXPORTER_PROMETHEUS_HOST and _PORT: where the one scrape endpoint listens. */
  readonly prometheus: PrometheusConfig;
  readonly otlp: Readonly<Record<Signal, OtlpSignalConfig>>;
  readonly sampler: { readonly name: SamplerName; readonly ratio: number };
  readonly propagators: readonly string[];
  readonly bsp: BatchConfig;
  readonly blrp: BatchConfig;
  readonly metricExport: {
    readonly intervalMillis: number;
    readonly timeoutMillis: number;
  };
  /** Short names (`http`, `express`) of the instrumentations to enable. */
  readonly instrumentations: readonly string[];
  readonly resourceDetectors: readonly string[];
  readonly logLevel: LogLevelName;
  /** Main-script names for which the preload does nothing (npm, npx, …). */
  readonly exclude: readonly string[];
  readonly shutdownTimeoutMillis: number;
  readonly worker: WorkerMarker | undefined;
  /**
   * OTEL_FORKSAFE_THREADS: `dormant` (default, one SDK per process, threads export nothing) or
   * `export` (each worker thread starts an SDK under its process's identity plus thread.id).
   */
  readonly threads: ThreadsMode;
  /**
   * OTEL_FORKSAFE_CODE_CACHE: where V8's code cache of our bundles is kept (default: a per-user
   * directory under the OS temp dir), or undefined when it is `false`. See src/loading/code-cache.ts.
   */
  readonly codeCacheDir: string | undefined;
  /**
   * pm2's fields when the environment has them (cluster mode: `pm2_env`; fork mode: spread
   * variables). bootstrap trusts them only in pm2's app container; see src/pm2.ts.
   */
  readonly pm2: Pm2Process | undefined;
  /** One sentence per bad value: the variable, the value, what was used instead. */
  readonly problems: readonly string[];
}

/** What a pm2 app process knows about itself at preload time. */
export interface Pm2Process {
  /** The app's name in pm2. */
  readonly name: string;
  /** pm2's process id (`pm_id`); it stays the same across `pm2 reload` and restarts. */
  readonly pmId: number;
  /** The instance number (NODE_APP_INSTANCE, or the app's `instance_var`): 0..instances-1. */
  readonly instance: number;
  /** PM2_HOME of the daemon, to tell two pm2 installations on one host apart. */
  readonly home: string;
  /** pm2's `kill_timeout`: how long pm2 waits after SIGINT before SIGKILL (default 1600). */
  readonly killTimeoutMillis?: number;
}
