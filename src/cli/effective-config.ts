// `otel-launch --print-config`: the configuration the child will run with, per signal, with the
// origin of every value (flag, env, default) and warnings for the mistakes users make most.
// Pure: takes the environment and the flags' variables, never reads process.env itself.
import {
  CONFIG_VARS,
  SDK_HANDLED_VARS,
  SIGNALS,
  WORKER_MARKER_VARS,
} from '../config/vars.ts';
import { parseKeyValueList } from '../config/env-reader.ts';
import { readConfig } from '../config/read-config.ts';
import { type ForksafeConfig, type Signal } from '../config/types.ts';
import { flagOf } from './args.ts';
import { suggestName } from './suggest.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Where a value came from: a flag, the environment, the default, or `--local`. */
export interface Origin {
  readonly source: 'flag' | 'env' | 'default' | 'local';
  /** The variable that decided, when one did. */
  readonly variable?: string;
}

/** One line of the report: a setting, its value (never a secret) and its origin. */
export interface Setting {
  readonly name: string;
  readonly value: string;
  /** Several for values merged from more than one variable (headers). */
  readonly origin: Origin | readonly Origin[];
}

/** The whole report. */
export interface EffectiveConfig {
  readonly general: readonly Setting[];
  readonly signals: Readonly<Record<Signal, readonly Setting[]>>;
  readonly warnings: readonly string[];
}

const SIGNAL_PATH = /\/v1\/(traces|metrics|logs)\/?$/;
const GRPC_PORT = '4317';
const HTTP_PORT = '4318';

const set = (env: Env, name: string): boolean =>
  (env[name]?.trim() ?? '') !== '';

/**
 * The origin of a value read from the first of `names` that is set (per-signal first, then the
 * shared one). `local` lists the variables `--local` supplies.
 */
export function originOf(
  names: readonly string[],
  env: Env,
  flags: Env,
  local: ReadonlySet<string> = new Set()
): Origin {
  for (const variable of names) {
    if (local.has(variable)) return { source: 'local', variable };
    if (set(flags, variable)) return { source: 'flag', variable };
    if (set(env, variable)) return { source: 'env', variable };
  }
  return { source: 'default' };
}

/** The port a URL really uses (the scheme's default when none is written). */
function portOf(url: URL): string {
  if (url.port !== '') return url.port;
  return url.protocol === 'https:' ? '443' : '80';
}

/** Names otel-forksafe or the SDK packages read: anything else OTEL_* is suspect. */
const KNOWN_VARS: readonly string[] = [
  ...CONFIG_VARS,
  ...SDK_HANDLED_VARS,
  ...Object.values(WORKER_MARKER_VARS),
];

/**
 * Warnings for the common mistakes: a protocol aimed at the other protocol's port, a base
 * endpoint that already ends in /v1/<signal>, a per-signal HTTP endpoint with no path, malformed
 * headers (values never shown), and OTEL_* names nobody reads (with the likely intended one).
 */
export function lintConfig(merged: Env, config: ForksafeConfig): string[] {
  const out: string[] = [];
  for (const signal of SIGNALS) {
    if (!config.exporters[signal].includes('otlp')) continue;
    const { protocol, url } = config.otlp[signal];
    const S = signal.toUpperCase();
    const from = set(merged, `OTEL_EXPORTER_OTLP_${S}_ENDPOINT`)
      ? `OTEL_EXPORTER_OTLP_${S}_ENDPOINT`
      : 'OTEL_EXPORTER_OTLP_ENDPOINT';
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      continue;
    }
    const port = portOf(parsed);
    // Ref: https://opentelemetry.io/docs/specs/otlp/#otlpgrpc-default-port and #otlphttp-default-port
    if (protocol !== 'grpc' && port === GRPC_PORT) {
      out.push(
        `${signal}: protocol ${protocol} is sent to ${url}, port ${GRPC_PORT} is the OTLP/gRPC port (${from}); use port ${HTTP_PORT}, or --exporter-otlp-protocol grpc`
      );
    } else if (protocol === 'grpc' && port === HTTP_PORT) {
      out.push(
        `${signal}: protocol grpc is sent to ${url}, port ${HTTP_PORT} is the OTLP/HTTP port (${from}); use port ${GRPC_PORT}, or --exporter-otlp-protocol http/protobuf`
      );
    }
    if (
      protocol !== 'grpc' &&
      from !== 'OTEL_EXPORTER_OTLP_ENDPOINT' &&
      !SIGNAL_PATH.test(parsed.pathname)
    ) {
      // Ref: exporter spec: a per-signal URL is used as is, so it must carry the path itself.
      out.push(
        `${signal}: ${from}=${url} is used as is and has no /v1/${signal} path; most collectors answer 404 there (use ${url.replace(/\/$/, '')}/v1/${signal}, or set the base OTEL_EXPORTER_OTLP_ENDPOINT instead)`
      );
    }
  }
  const base = merged.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const tail = base === undefined ? null : SIGNAL_PATH.exec(base);
  if (base !== undefined && tail) {
    // Ref: exporter spec: for OTLP/HTTP the base endpoint gets /v1/<signal> appended.
    const root = base.slice(0, tail.index);
    out.push(
      `OTEL_EXPORTER_OTLP_ENDPOINT=${base} already ends in /v1/${tail[1]}, but it is the base endpoint: over HTTP the exporters append /v1/<signal> (traces would go to ${root}/v1/${tail[1]}/v1/traces); set it to ${root}, or set OTEL_EXPORTER_OTLP_${tail[1]?.toUpperCase()}_ENDPOINT to the full URL`
    );
  }
  for (const name of [
    'OTEL_EXPORTER_OTLP_HEADERS',
    ...SIGNALS.map(s => `OTEL_EXPORTER_OTLP_${s.toUpperCase()}_HEADERS`),
  ]) {
    const value = merged[name]?.trim();
    if (value === undefined || value === '' || parseKeyValueList(value)) {
      continue;
    }
    // Dev note: header values are secrets; only the shape of the mistake is described.
    const colon = /^[^=]*:/.test(value);
    out.push(
      `${name} is malformed (value not shown): expected key=value pairs separated by commas, values percent-encoded${colon ? '; it looks like "Name: value", write Name=value' : ''}; no headers from it are sent`
    );
  }
  for (const name of Object.keys(merged).sort()) {
    if (!/^otel_/i.test(name) || KNOWN_VARS.includes(name)) continue;
    const upper = name.toUpperCase();
    if (KNOWN_VARS.includes(upper)) {
      out.push(
        `${name} is ignored: environment variable names are case-sensitive; use ${upper}`
      );
      continue;
    }
    const guess = suggestName(name, KNOWN_VARS);
    out.push(
      guess === undefined
        ? `${name} is not read by otel-forksafe; it has no effect`
        : `${name} is not read by otel-forksafe; did you mean ${guess}?`
    );
  }
  return out;
}

/**
 * The effective configuration of a child started with `env` plus the flags' variables
 * (`flags` beats `env`), with lint warnings and readConfig's own problems. Never shows a
 * header value.
 */
export function effectiveConfig(
  env: Env,
  flags: Env,
  local: ReadonlySet<string> = new Set()
): EffectiveConfig {
  const merged: Env = { ...env, ...flags };
  const config = readConfig(merged);
  const origin = (...names: string[]): Origin =>
    originOf(names, env, flags, local);
  const rejected = (o: Origin): Origin =>
    o.variable !== undefined &&
    config.problems.some(p => p.startsWith(`${o.variable}=`))
      ? { source: 'default' }
      : o;

  const general: Setting[] = [
    {
      name: 'sdk disabled',
      value: String(config.disabled),
      origin: origin('OTEL_SDK_DISABLED'),
    },
    {
      name: 'service.name',
      value: config.serviceName ?? 'unknown_service:node',
      origin: origin('OTEL_SERVICE_NAME'),
    },
    {
      name: 'resource attributes',
      value:
        Object.entries(config.resourceAttributes)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '(none)',
      origin: origin('OTEL_RESOURCE_ATTRIBUTES'),
    },
    {
      name: 'propagators',
      value: config.propagators.join(',') || 'none',
      origin: rejected(origin('OTEL_PROPAGATORS')),
    },
    {
      name: 'instrumentations',
      value: `${config.instrumentations.length} enabled`,
      origin: origin(
        'OTEL_NODE_ENABLED_INSTRUMENTATIONS',
        'OTEL_NODE_DISABLED_INSTRUMENTATIONS'
      ),
    },
    {
      name: 'log level',
      value: config.logLevel,
      origin: rejected(origin('OTEL_LOG_LEVEL')),
    },
  ];

  const signals = {} as Record<Signal, Setting[]>;
  for (const signal of SIGNALS) {
    const S = signal.toUpperCase();
    const pair = (suffix: string): string[] => [
      `OTEL_EXPORTER_OTLP_${S}_${suffix}`,
      `OTEL_EXPORTER_OTLP_${suffix}`,
    ];
    const exporters = config.exporters[signal];
    const rows: Setting[] = [
      {
        name: 'exporter',
        value: exporters.join(',') || 'none',
        origin: rejected(origin(`OTEL_${S}_EXPORTER`)),
      },
    ];
    if (exporters.includes('otlp')) {
      const otlp = config.otlp[signal];
      const headerVars = pair('HEADERS')
        .reverse()
        .filter(v => set(merged, v));
      rows.push(
        {
          name: 'protocol',
          value: otlp.protocol,
          origin: rejected(origin(...pair('PROTOCOL'))),
        },
        {
          name: 'url',
          value: otlp.url,
          origin:
            otlp.urlSource === 'default'
              ? { source: 'default' }
              : origin(...pair('ENDPOINT')),
        },
        {
          name: 'headers',
          value:
            Object.keys(otlp.headers)
              .map(k => `${k}=[REDACTED]`)
              .join(',') || '(none)',
          origin:
            headerVars.length === 0
              ? { source: 'default' }
              : headerVars.map(v => origin(v)),
        },
        {
          name: 'timeout',
          value: `${otlp.timeoutMillis} ms`,
          origin: rejected(origin(...pair('TIMEOUT'))),
        },
        {
          name: 'compression',
          value: otlp.compression,
          origin: rejected(origin(...pair('COMPRESSION'))),
        }
      );
      if (otlp.certificateFile !== undefined) {
        rows.push({
          name: 'certificate',
          value: otlp.certificateFile,
          origin: origin(...pair('CERTIFICATE')),
        });
      }
    }
    if (signal === 'metrics' && config.exporters.metrics.includes('prometheus'))
      rows.push(...prometheusRows(config, origin));
    signals[signal] = rows;
  }

  const lints = lintConfig(merged, config);
  // Our header lint says more than readConfig's line for the same variable; keep one.
  const problems = config.problems.filter(
    p => !/^OTEL_EXPORTER_OTLP_(\w+_)?HEADERS is malformed/.test(p)
  );
  return { general, signals, warnings: [...lints, ...problems] };
}

// The Prometheus endpoint: one per cluster (src/prometheus/), at host:port/metrics.
function prometheusRows(
  config: ForksafeConfig,
  origin: (...names: string[]) => Origin
): Setting[] {
  const { host, port } = config.prometheus;
  return [
    {
      name: 'prometheus endpoint',
      value: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
      origin: [
        origin('OTEL_EXPORTER_PROMETHEUS_HOST'),
        origin('OTEL_EXPORTER_PROMETHEUS_PORT'),
      ],
    },
  ];
}

function describeOrigin(origin: Origin | readonly Origin[]): string {
  if (isOriginList(origin)) return origin.map(describeOrigin).join(' + ');
  if (origin.variable === undefined) return origin.source;
  if (origin.source === 'flag') return `flag --${flagOf(origin.variable)}`;
  return `${origin.source} ${origin.variable}`;
}

function isOriginList(
  origin: Origin | readonly Origin[]
): origin is readonly Origin[] {
  return Array.isArray(origin);
}

/** The report as text: aligned `name  value  (origin)` lines, then the warnings. */
export function formatEffectiveConfig(report: EffectiveConfig): string {
  const lines: string[] = [];
  const width = 20;
  const all = [
    ...report.general,
    ...SIGNALS.flatMap(signal => report.signals[signal]),
  ];
  const valueWidth = Math.max(...all.map(r => r.value.length));
  const section = (title: string, rows: readonly Setting[]): void => {
    lines.push(title);
    for (const row of rows) {
      lines.push(
        `  ${row.name.padEnd(width)}${row.value.padEnd(valueWidth)}  (${describeOrigin(row.origin)})`
      );
    }
  };
  section('general', report.general);
  for (const signal of SIGNALS) section(signal, report.signals[signal]);
  if (report.warnings.length === 0) {
    lines.push('no warnings');
  } else {
    lines.push(`${report.warnings.length} warning(s)`);
    for (const w of report.warnings) lines.push(`  warning: ${w}`);
  }
  return `${lines.join('\n')}\n`;
}
