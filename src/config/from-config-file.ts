// The model the SDK's parser made of a configuration file, as the ForksafeConfig our own build
// takes (src/sdk/start.ts: our exporters and transport, the exit-time flush, lazy loading), or
// one sentence naming what otel-forksafe cannot honour. Pure; used where config-file.ts is.
// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#declarative-configuration
// (with a file, the file decides: the standard OTEL_* variables count only through ${…})
import type { ConfigurationModel } from '@opentelemetry/configuration';
import type { LogLevelName } from '../diag.ts';
import type { ExporterName, ForksafeConfig } from './types.ts';
import {
  isObject,
  Mapper,
  single,
  Unsupported,
  type Json,
} from './file-mapper.ts';

/** The three merge helpers of @opentelemetry/configuration (their `*_list` semantics). */
export interface ModelMergers {
  mergeHeadersConfig(
    headers?: { name: string; value: string | null }[],
    list?: string | null
  ): Record<string, string> | undefined;
  mergeResourceAttributesConfig(
    attributes?: { name: string; value: unknown; type?: string | null }[],
    list?: string | null
  ): { name: string; value: unknown; type?: string | null }[] | undefined;
  mergePropagatorCompositeConfig(
    composite?: Record<string, unknown>[],
    list?: string | null
  ): Record<string, unknown>[] | undefined;
}

/** What a file gives besides the config: the id it names, and what was left out. */
export interface FileSettings {
  readonly config: ForksafeConfig;
  /** service.instance.id from the file's resource: a standalone process's, a worker's base. */
  readonly instanceId: string | undefined;
  /** Settings of the file that change nothing here, one sentence each (shown, not fatal). */
  readonly lints: readonly string[];
}

const LOG_LEVELS: Record<string, LogLevelName> = {
  trace: 'verbose',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'error',
};

/**
 * Maps a parsed file onto `base` (the environment's config: our own OTEL_FORKSAFE_* knobs, the
 * instrumentation lists and the worker marker stay). Returns one sentence when the file asks
 * for something otel-forksafe cannot honour. Never throws.
 */
export function configFromModel(
  model: ConfigurationModel,
  base: ForksafeConfig,
  merge: ModelMergers
): { ok: true; settings: FileSettings } | { ok: false; reason: string } {
  const m = new Mapper(merge);
  const root = model as unknown as Json;
  try {
    m.keys(root, '', [
      'disabled',
      'log_level',
      'resource',
      'propagator',
      'tracer_provider',
      'meter_provider',
      'logger_provider',
    ]);
    const resource = isObject(root.resource) ? root.resource : {};
    m.keys(resource, '/resource', [
      'attributes',
      'attributes_list',
      'detection/development',
    ]);
    const attributes: Record<string, string> = {};
    const merged = merge.mergeResourceAttributesConfig(
      resource.attributes as { name: string; value: unknown }[] | undefined,
      resource.attributes_list as string | undefined
    );
    for (const { name, value, type } of merged ?? []) {
      if (Array.isArray(value) || type?.endsWith('_array')) {
        throw new Unsupported(
          `/resource/attributes: "${name}" is an array; only single values are supported`
        );
      }
      if (
        typeof value === 'string' ||
        typeof value === 'number' ||
        typeof value === 'boolean'
      )
        attributes[name] = String(value);
    }
    const detection = isObject(resource['detection/development'])
      ? resource['detection/development']
      : {};
    m.keys(detection, '/resource/detection/development', ['detectors']);
    // Ref: configuration schema: without detection/development, no detector runs.
    const detectors = ['env'];
    let hasServiceDetector = false;
    for (const d of (detection.detectors as unknown[] | undefined) ?? []) {
      const [name] = single(d, '/resource/detection/development/detectors');
      if (name === 'host') detectors.push('host', 'os');
      else if (name === 'process' || name === 'container') detectors.push(name);
      else if (name === 'service') hasServiceDetector = true;
      else {
        throw new Unsupported(
          `resource detector ${JSON.stringify(name)} is not supported`
        );
      }
    }
    const propagator = isObject(root.propagator) ? root.propagator : {};
    m.keys(propagator, '/propagator', ['composite', 'composite_list']);
    const propagators = (
      merge.mergePropagatorCompositeConfig(
        propagator.composite as Record<string, unknown>[] | undefined,
        propagator.composite_list as string | undefined
      ) ?? []
    ).map(p => single(p, '/propagator/composite')[0]);
    const unknown = propagators.filter(
      p => !['tracecontext', 'baggage', 'b3', 'b3multi'].includes(p)
    );
    if (unknown.length > 0) {
      throw new Unsupported(
        `/propagator: ${unknown.join(', ')} not supported (tracecontext, baggage, b3, b3multi)`
      );
    }

    const provider = (key: string, handled: string[]): Json | undefined => {
      if (!isObject(root[key])) return undefined;
      m.keys(root[key], `/${key}`, handled);
      return root[key];
    };
    const traces = provider('tracer_provider', [
      'processors',
      'sampler',
      'id_generator',
    ]);
    if (traces?.id_generator !== undefined && traces.id_generator !== null) {
      if (
        single(traces.id_generator, '/tracer_provider/id_generator')[0] !==
        'random'
      ) {
        throw new Unsupported(
          '/tracer_provider/id_generator: only random is supported'
        );
      }
    }
    const metrics = provider('meter_provider', ['readers', 'views']);
    if (Array.isArray(metrics?.views) && metrics.views.length > 0) {
      throw new Unsupported(
        '/meter_provider/views are not supported by otel-forksafe'
      );
    }
    const logs = provider('logger_provider', ['processors']);
    const list = (p: Json | undefined, key: string): unknown[] =>
      Array.isArray(p?.[key]) ? (p[key] as unknown[]) : [];
    const t = m.pipeline(
      'traces',
      list(traces, 'processors'),
      '/tracer_provider/processors',
      base
    );
    const mt = m.pipeline(
      'metrics',
      list(metrics, 'readers'),
      '/meter_provider/readers',
      base
    );
    const l = m.pipeline(
      'logs',
      list(logs, 'processors'),
      '/logger_provider/processors',
      base
    );

    const severity =
      typeof root.log_level === 'string' ? root.log_level : undefined;
    const config: ForksafeConfig = {
      ...base,
      disabled: root.disabled === true,
      // The service detector is the file's way to take OTEL_SERVICE_NAME.
      serviceName:
        attributes['service.name'] ??
        (hasServiceDetector ? base.serviceName : undefined),
      resourceAttributes: attributes,
      exporters: {
        traces: t.names as ExporterName[],
        metrics: mt.names,
        logs: l.names as ExporterName[],
      },
      otlp: { traces: t.otlp, metrics: mt.otlp, logs: l.otlp },
      sampler: m.sampler(traces?.sampler, '/tracer_provider/sampler'),
      propagators,
      bsp: m.batch(t.timing, 5000),
      blrp: m.batch(l.timing, 1000),
      metricExport: {
        intervalMillis: m.num(mt.timing, 'interval', 60000, 1),
        timeoutMillis: m.num(mt.timing, 'timeout', 30000, 1),
      },
      resourceDetectors: detectors,
      logLevel:
        severity === undefined
          ? base.logLevel
          : (LOG_LEVELS[severity.replace(/\d$/, '')] ?? base.logLevel),
      problems: [],
    };
    return {
      ok: true,
      settings: {
        config,
        instanceId: attributes['service.instance.id'],
        lints: m.lints,
      },
    };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: text.split('\n')[0] ?? text };
  }
}
