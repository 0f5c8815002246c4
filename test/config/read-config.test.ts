// Unit tests of src/config.ts: readConfig on plain env objects (process.env is never touched),
// the defaults, every variable family it reads, the frozen result, redaction and bad values.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_EXCLUDED_TOOLS } from '../../src/preload/classify.ts';
import {
  defaultCodeCacheDir,
  readConfig,
} from '../../src/config/read-config.ts';
import { describeConfig } from '../../src/config/redact.ts';
import { parseKeyValueList } from '../../src/config/env-reader.ts';
import { type ForksafeConfig } from '../../src/config/types.ts';
import { INSTRUMENTATION_NAMES } from '../../src/instrumentation/table.ts';

type Env = Record<string, string>;

/** readConfig for a case that must not report anything. */
function clean(env: Env): ForksafeConfig {
  const config = readConfig(env);
  assert.deepEqual(
    config.problems,
    [],
    `no problems for ${JSON.stringify(env)}`
  );
  return config;
}

describe('readConfig: defaults', () => {
  const config = clean({});

  test('OTLP over gRPC to localhost:4317 for every signal', () => {
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      const otlp = config.otlp[signal];
      assert.equal(otlp.protocol, 'grpc', signal);
      assert.equal(otlp.url, 'http://localhost:4317', signal);
      assert.equal(otlp.urlSource, 'default', signal);
      assert.deepEqual(otlp.headers, {}, signal);
      assert.equal(otlp.timeoutMillis, 10000, signal);
      assert.equal(otlp.compression, 'none', signal);
      assert.equal(otlp.insecure, undefined, signal);
    }
  });

  test('the otlp exporter for all three signals', () => {
    assert.deepEqual(config.exporters, {
      traces: ['otlp'],
      metrics: ['otlp'],
      logs: ['otlp'],
    });
  });

  test('sampler, propagators, batch and metric export settings', () => {
    assert.deepEqual(config.sampler, {
      name: 'parentbased_always_on',
      ratio: 1,
    });
    assert.deepEqual(config.propagators, ['tracecontext', 'baggage']);
    assert.deepEqual(config.bsp, {
      scheduledDelayMillis: 5000,
      exportTimeoutMillis: 30000,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
    });
    assert.deepEqual(config.blrp, {
      scheduledDelayMillis: 1000,
      exportTimeoutMillis: 30000,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
    });
    assert.deepEqual(config.metricExport, {
      intervalMillis: 60000,
      timeoutMillis: 30000,
    });
  });

  test('log level, enabled state, identity inputs and knobs', () => {
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.disabled, false);
    assert.equal(config.serviceName, undefined);
    assert.deepEqual(config.resourceAttributes, {});
    assert.deepEqual(config.resourceDetectors, [
      'env',
      'host',
      'os',
      'process',
    ]);
    assert.deepEqual(config.exclude, DEFAULT_EXCLUDED_TOOLS);
    assert.equal(config.shutdownTimeoutMillis, 5000);
    assert.equal(config.worker, undefined);
  });

  test('instrumentations: http and express on; fs, dns, net, host-metrics off; aws-lambda off outside Lambda', () => {
    for (const on of ['http', 'express', 'undici', 'pg']) {
      assert.ok(config.instrumentations.includes(on), `${on} is enabled`);
    }
    for (const off of ['fs', 'dns', 'net', 'host-metrics', 'aws-lambda']) {
      assert.ok(!config.instrumentations.includes(off), `${off} is disabled`);
    }
    assert.equal(
      config.instrumentations.length,
      INSTRUMENTATION_NAMES.length - 5,
      'everything else is on'
    );
  });

  test('empty and blank values count as unset', () => {
    const blank = clean({
      OTEL_TRACES_SAMPLER: '',
      OTEL_EXPORTER_OTLP_ENDPOINT: '   ',
      OTEL_LOG_LEVEL: '',
    });
    assert.equal(blank.sampler.name, 'parentbased_always_on');
    assert.equal(blank.otlp.traces.url, 'http://localhost:4317');
    assert.equal(blank.logLevel, 'warn');
  });
});

describe('readConfig: OTLP endpoints, protocols and headers', () => {
  test('http/*: the base endpoint gets /v1/<signal> appended', () => {
    const config = clean({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
    });
    assert.equal(config.otlp.traces.url, 'http://collector:4318/v1/traces');
    assert.equal(config.otlp.metrics.url, 'http://collector:4318/v1/metrics');
    assert.equal(config.otlp.logs.url, 'http://collector:4318/v1/logs');
    assert.equal(config.otlp.traces.urlSource, 'env');
  });

  test('http/*: a base endpoint with a path or a trailing slash', () => {
    const withPath = clean({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://gw.example:443/otlp',
    });
    assert.equal(
      withPath.otlp.traces.url,
      'https://gw.example:443/otlp/v1/traces'
    );
    const withSlash = clean({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
    });
    assert.equal(withSlash.otlp.logs.url, 'http://collector:4318/v1/logs');
  });

  test('http/*: default URL is localhost:4318/v1/<signal>', () => {
    const config = clean({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
    assert.equal(config.otlp.metrics.url, 'http://localhost:4318/v1/metrics');
    assert.equal(config.otlp.metrics.urlSource, 'default');
  });

  test('gRPC: the base endpoint is used as is', () => {
    const config = clean({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317',
    });
    assert.equal(config.otlp.traces.url, 'http://collector:4317');
    assert.equal(config.otlp.logs.url, 'http://collector:4317');
  });

  test('a per-signal endpoint is used as is and wins over the base one', () => {
    const config = clean({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom/path',
    });
    assert.equal(config.otlp.traces.url, 'http://traces:9999/custom/path');
    assert.equal(config.otlp.traces.urlSource, 'env');
    assert.equal(config.otlp.metrics.url, 'http://base:4318/v1/metrics');
    assert.equal(config.otlp.logs.url, 'http://base:4318/v1/logs');
  });

  test('a per-signal protocol overrides the general one', () => {
    const config = clean({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'HTTP/PROTOBUF',
    });
    assert.equal(config.otlp.traces.protocol, 'http/json');
    assert.equal(config.otlp.traces.url, 'http://localhost:4318/v1/traces');
    assert.equal(config.otlp.metrics.protocol, 'grpc');
    assert.equal(config.otlp.metrics.url, 'http://localhost:4317');
    assert.equal(config.otlp.logs.protocol, 'http/protobuf');
  });

  test('per-signal timeout, compression and insecure', () => {
    const config = clean({
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '500',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_LOGS_INSECURE: 'true',
    });
    assert.equal(config.otlp.traces.timeoutMillis, 500);
    assert.equal(config.otlp.metrics.timeoutMillis, 2000);
    assert.equal(config.otlp.metrics.compression, 'gzip');
    assert.equal(config.otlp.logs.insecure, true);
    assert.equal(config.otlp.traces.insecure, undefined);
  });

  test('headers: general and per-signal merge, per-signal wins, values percent-decoded', () => {
    const config = clean({
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=general,x-team=core%20platform',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=for%3Dtraces,x-extra=1',
    });
    assert.deepEqual(config.otlp.traces.headers, {
      'api-key': 'for=traces',
      'x-team': 'core platform',
      'x-extra': '1',
    });
    assert.deepEqual(config.otlp.metrics.headers, {
      'api-key': 'general',
      'x-team': 'core platform',
    });
    assert.deepEqual(config.otlp.logs.headers, config.otlp.metrics.headers);
  });

  test('parseKeyValueList: trims, decodes, keeps `=` inside values, rejects junk', () => {
    assert.deepEqual(parseKeyValueList(' a = 1 , b=x%2Cy,c=dGVzdA==,'), {
      a: '1',
      b: 'x,y',
      c: 'dGVzdA==',
    });
    assert.equal(parseKeyValueList('novalue'), undefined);
    assert.equal(parseKeyValueList('=nokey'), undefined);
    assert.equal(parseKeyValueList('a=%E0%A4%A'), undefined);
  });
});

describe('readConfig: exporters, resource, switches', () => {
  test('`none` empties an exporter list', () => {
    const config = clean({
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'NONE',
      OTEL_LOGS_EXPORTER: 'otlp,none',
    });
    assert.deepEqual(config.exporters, { traces: [], metrics: [], logs: [] });
  });

  test('several exporters, duplicates dropped', () => {
    const config = clean({
      OTEL_TRACES_EXPORTER: 'console, otlp,otlp',
    });
    assert.deepEqual(config.exporters.traces, ['console', 'otlp']);
  });

  test('OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME', () => {
    const config = clean({
      OTEL_SERVICE_NAME: 'checkout',
      OTEL_RESOURCE_ATTRIBUTES:
        'service.version=1.2.3, deployment.environment=prod%20eu,service.instance.id=abc',
    });
    assert.equal(config.serviceName, 'checkout');
    assert.deepEqual(config.resourceAttributes, {
      'service.version': '1.2.3',
      'deployment.environment': 'prod eu',
      'service.instance.id': 'abc',
    });
  });

  test('malformed OTEL_RESOURCE_ATTRIBUTES is discarded whole, with one problem', () => {
    const config = readConfig({ OTEL_RESOURCE_ATTRIBUTES: 'a=1,broken' });
    assert.deepEqual(config.resourceAttributes, {});
    assert.equal(config.problems.length, 1, config.problems.join('\n'));
    assert.match(config.problems[0] ?? '', /OTEL_RESOURCE_ATTRIBUTES/);
  });

  test('OTEL_SDK_DISABLED: only true (any case) disables', () => {
    assert.equal(clean({ OTEL_SDK_DISABLED: 'true' }).disabled, true);
    assert.equal(clean({ OTEL_SDK_DISABLED: 'TRUE' }).disabled, true);
    assert.equal(clean({ OTEL_SDK_DISABLED: 'false' }).disabled, false);
    const bad = readConfig({ OTEL_SDK_DISABLED: 'yes' });
    assert.equal(bad.disabled, false);
    assert.equal(bad.problems.length, 1);
    assert.match(bad.problems[0] ?? '', /OTEL_SDK_DISABLED="yes"/);
  });

  test('OTEL_LOG_LEVEL is case-insensitive', () => {
    assert.equal(clean({ OTEL_LOG_LEVEL: 'DEBUG' }).logLevel, 'debug');
    assert.equal(clean({ OTEL_LOG_LEVEL: 'none' }).logLevel, 'none');
  });

  test('sampler and ratio', () => {
    assert.deepEqual(
      clean({
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }).sampler,
      { name: 'parentbased_traceidratio', ratio: 0.25 }
    );
    // The argument of a sampler that takes none is ignored.
    assert.deepEqual(
      clean({
        OTEL_TRACES_SAMPLER: 'always_off',
        OTEL_TRACES_SAMPLER_ARG: 'abc',
      }).sampler,
      { name: 'always_off', ratio: 1 }
    );
  });
});

describe('readConfig: instrumentations', () => {
  test('OTEL_NODE_ENABLED_INSTRUMENTATIONS replaces the default set, long names accepted', () => {
    const config = clean({
      OTEL_NODE_ENABLED_INSTRUMENTATIONS:
        'http, @opentelemetry/instrumentation-express,fs',
    });
    assert.deepEqual(
      new Set(config.instrumentations),
      new Set(['http', 'express', 'fs'])
    );
    assert.equal(config.instrumentations.length, 3);
  });

  test('OTEL_NODE_DISABLED_INSTRUMENTATIONS removes from the default set', () => {
    const config = clean({
      OTEL_NODE_DISABLED_INSTRUMENTATIONS:
        '@opentelemetry/instrumentation-express,pg',
    });
    assert.ok(!config.instrumentations.includes('express'));
    assert.ok(!config.instrumentations.includes('pg'));
    assert.ok(config.instrumentations.includes('http'));
    assert.equal(
      config.instrumentations.length,
      INSTRUMENTATION_NAMES.length - 7
    );
  });

  test('aws-lambda is on inside AWS Lambda (LAMBDA_TASK_ROOT and _HANDLER set)', () => {
    assert.ok(
      clean({
        LAMBDA_TASK_ROOT: '/var/task',
        _HANDLER: 'index.handler',
      }).instrumentations.includes('aws-lambda')
    );
    assert.ok(
      !clean({ LAMBDA_TASK_ROOT: '/var/task' }).instrumentations.includes(
        'aws-lambda'
      )
    );
    assert.ok(
      !clean({
        OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'aws-lambda',
      }).instrumentations.includes('aws-lambda')
    );
  });

  test('the disabled list applies after the enabled list', () => {
    const config = clean({
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,express',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'express',
    });
    assert.deepEqual(config.instrumentations, ['http']);
  });
});

describe('readConfig: resource detectors', () => {
  test('all', () => {
    assert.deepEqual(
      new Set(clean({ OTEL_NODE_RESOURCE_DETECTORS: 'all' }).resourceDetectors),
      new Set([
        'env',
        'host',
        'os',
        'process',
        'container',
        'alibaba',
        'aws',
        'azure',
        'gcp',
      ])
    );
  });

  test('none', () => {
    assert.deepEqual(
      clean({ OTEL_NODE_RESOURCE_DETECTORS: 'none' }).resourceDetectors,
      []
    );
  });

  test('a list; serviceinstance is accepted and dropped', () => {
    assert.deepEqual(
      clean({ OTEL_NODE_RESOURCE_DETECTORS: 'env,Container,serviceinstance' })
        .resourceDetectors,
      ['env', 'container']
    );
  });

  test('an unknown detector: one problem, the others kept', () => {
    const config = readConfig({ OTEL_NODE_RESOURCE_DETECTORS: 'env,martian' });
    assert.deepEqual(config.resourceDetectors, ['env']);
    assert.equal(config.problems.length, 1, config.problems.join('\n'));
    assert.match(
      config.problems[0] ?? '',
      /OTEL_NODE_RESOURCE_DETECTORS="martian"/
    );
  });
});

describe('readConfig: OTEL_FORKSAFE_* knobs and worker markers', () => {
  test('OTEL_FORKSAFE_EXCLUDE extends the tool list (lower-cased)', () => {
    const config = clean({ OTEL_FORKSAFE_EXCLUDE: 'My-Tool, jest' });
    assert.deepEqual(config.exclude, [
      ...DEFAULT_EXCLUDED_TOOLS,
      'my-tool',
      'jest',
    ]);
  });

  test('OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS', () => {
    assert.equal(
      clean({ OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS: '1500' })
        .shutdownTimeoutMillis,
      1500
    );
    assert.equal(
      clean({ OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS: '0' }).shutdownTimeoutMillis,
      0
    );
    const bad = readConfig({ OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS: 'soon' });
    assert.equal(bad.shutdownTimeoutMillis, 5000);
    assert.equal(bad.problems.length, 1);
    assert.match(
      bad.problems[0] ?? '',
      /OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS="soon".*5000/
    );
  });

  test('OTEL_FORKSAFE_CODE_CACHE: a per-user temp directory, false, or an absolute path', () => {
    const byDefault = clean({}).codeCacheDir ?? '';
    assert.equal(byDefault, defaultCodeCacheDir());
    assert.match(byDefault, /otel-forksafe-/);
    assert.equal(
      clean({ OTEL_FORKSAFE_CODE_CACHE: 'TRUE' }).codeCacheDir,
      byDefault
    );
    assert.equal(
      clean({ OTEL_FORKSAFE_CODE_CACHE: 'false' }).codeCacheDir,
      undefined
    );
    assert.equal(
      clean({ OTEL_FORKSAFE_CODE_CACHE: '/var/cache/app' }).codeCacheDir,
      '/var/cache/app'
    );
    const bad = readConfig({ OTEL_FORKSAFE_CODE_CACHE: 'cache' });
    assert.equal(bad.codeCacheDir, byDefault);
    assert.equal(bad.problems.length, 1);
    assert.match(
      bad.problems[0] ?? '',
      /OTEL_FORKSAFE_CODE_CACHE="cache".*absolute/
    );
  });

  const marker = {
    OTEL_FORKSAFE_WORKER_SLOT: '2',
    OTEL_FORKSAFE_PRIMARY_PID: '4242',
    OTEL_FORKSAFE_INSTANCE_BASE: 'base-uuid',
  };

  test('all three marker variables give a worker marker', () => {
    assert.deepEqual(clean(marker).worker, {
      slot: 2,
      primaryPid: 4242,
      instanceBase: 'base-uuid',
    });
  });

  test('a partial or invalid marker is ignored', () => {
    const partial: Env = { ...marker };
    delete partial['OTEL_FORKSAFE_INSTANCE_BASE'];
    assert.equal(clean(partial).worker, undefined);
    assert.equal(
      clean({ ...marker, OTEL_FORKSAFE_WORKER_SLOT: '-1' }).worker,
      undefined
    );
    assert.equal(
      clean({ ...marker, OTEL_FORKSAFE_WORKER_SLOT: '1.5' }).worker,
      undefined
    );
    assert.equal(
      clean({ ...marker, OTEL_FORKSAFE_PRIMARY_PID: '0' }).worker,
      undefined
    );
  });
});

describe('readConfig: the result', () => {
  test('is deeply frozen', () => {
    const config = readConfig({
      OTEL_EXPORTER_OTLP_HEADERS: 'a=b',
      OTEL_RESOURCE_ATTRIBUTES: 'k=v',
      OTEL_LOG_LEVEL: 'loud',
      ...{
        OTEL_FORKSAFE_WORKER_SLOT: '0',
        OTEL_FORKSAFE_PRIMARY_PID: '1',
        OTEL_FORKSAFE_INSTANCE_BASE: 'x',
      },
    });
    const unfrozen: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (value === null || typeof value !== 'object') return;
      if (!Object.isFrozen(value)) unfrozen.push(path);
      for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
    };
    walk(config, 'config');
    assert.deepEqual(unfrozen, []);
    assert.throws(() => {
      (config.exporters.traces as string[]).push('console');
    }, TypeError);
    assert.throws(() => {
      (config.otlp.traces.headers as Record<string, string>)['a'] = 'changed';
    }, TypeError);
    assert.throws(() => {
      (config.problems as string[]).length = 0;
    }, TypeError);
  });

  test('describeConfig never contains a header value', () => {
    const secret = 'sk-live-9f8e7d6c5b4a3f2e1d';
    const config = clean({
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${secret}`,
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: `x-api-key=${secret}`,
    });
    const text = describeConfig(config);
    assert.ok(!text.includes(secret), text);
    assert.ok(text.includes('[REDACTED]'), text);
    assert.ok(text.includes('authorization'), 'header names stay visible');
    assert.ok(!text.includes('\n'), 'one line');
    const parsed = JSON.parse(text) as {
      otlp: { metrics: { headers: Record<string, string> } };
    };
    assert.deepEqual(parsed.otlp.metrics.headers, {
      authorization: '[REDACTED]',
      'x-api-key': '[REDACTED]',
    });
  });
});

interface BadCase {
  env: Env;
  /** The variable the problem must name. */
  variable: string;
  /** The bad value, as it must appear; undefined when it must NOT appear (secrets). */
  shown: string | undefined;
  hidden?: string;
  /** Text naming the fallback that was used. */
  fallback: RegExp;
  /** The config really fell back. */
  check: (config: ForksafeConfig) => void;
}

const badCases: BadCase[] = [
  {
    env: { OTEL_TRACES_SAMPLER: 'bogus' },
    variable: 'OTEL_TRACES_SAMPLER',
    shown: 'bogus',
    fallback: /using parentbased_always_on/,
    check: c => assert.equal(c.sampler.name, 'parentbased_always_on'),
  },
  {
    env: {
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: 'abc',
    },
    variable: 'OTEL_TRACES_SAMPLER_ARG',
    shown: 'abc',
    fallback: /using 1\b/,
    check: c => assert.deepEqual(c.sampler, { name: 'traceidratio', ratio: 1 }),
  },
  {
    env: { OTEL_EXPORTER_OTLP_HEADERS: '%%%' },
    variable: 'OTEL_EXPORTER_OTLP_HEADERS',
    shown: undefined,
    hidden: '%%%',
    fallback: /no headers/,
    check: c => assert.deepEqual(c.otlp.traces.headers, {}),
  },
  {
    env: { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%ZZtopsecret42' },
    variable: 'OTEL_EXPORTER_OTLP_HEADERS',
    shown: undefined,
    hidden: 'topsecret42',
    fallback: /no headers/,
    check: c => assert.deepEqual(c.otlp.logs.headers, {}),
  },
  {
    // Removed in OpenTelemetry JS 3: its own wording, the rest of the list kept.
    env: { OTEL_PROPAGATORS: 'b3,jaeger' },
    variable: 'OTEL_PROPAGATORS',
    shown: 'jaeger',
    fallback: /no longer available.*using b3$/,
    check: c => assert.deepEqual(c.propagators, ['b3']),
  },
  {
    env: { OTEL_PROPAGATORS: 'jaeger' },
    variable: 'OTEL_PROPAGATORS',
    shown: 'jaeger',
    fallback: /using none$/,
    check: c => assert.deepEqual(c.propagators, []),
  },
  {
    env: { OTEL_TRACES_EXPORTER: 'nope' },
    variable: 'OTEL_TRACES_EXPORTER',
    shown: 'nope',
    fallback: /using otlp/,
    check: c => assert.deepEqual(c.exporters.traces, ['otlp']),
  },
  {
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' },
    variable: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    shown: 'not a url',
    fallback: /using http:\/\/localhost:4317/,
    check: c => assert.equal(c.otlp.traces.url, 'http://localhost:4317'),
  },
  {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    },
    variable: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    shown: 'not a url',
    fallback: /using http:\/\/localhost:4318/,
    check: c =>
      assert.equal(c.otlp.traces.url, 'http://localhost:4318/v1/traces'),
  },
  {
    env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' },
    variable: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    shown: 'carrier-pigeon',
    fallback: /using grpc/,
    check: c => assert.equal(c.otlp.metrics.protocol, 'grpc'),
  },
  {
    env: { OTEL_METRIC_EXPORT_INTERVAL: '-5' },
    variable: 'OTEL_METRIC_EXPORT_INTERVAL',
    shown: '-5',
    fallback: /using 60000/,
    check: c => assert.equal(c.metricExport.intervalMillis, 60000),
  },
  {
    env: { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'express,doesnotexist' },
    variable: 'OTEL_NODE_ENABLED_INSTRUMENTATIONS',
    shown: 'doesnotexist',
    fallback: /ignored/,
    check: c => assert.deepEqual(c.instrumentations, ['express']),
  },
  {
    env: { OTEL_LOG_LEVEL: 'loud' },
    variable: 'OTEL_LOG_LEVEL',
    shown: 'loud',
    fallback: /using warn/,
    check: c => assert.equal(c.logLevel, 'warn'),
  },
  {
    env: {
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1000',
    },
    variable: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    shown: '1000',
    fallback: /using 100\b/,
    check: c => {
      assert.equal(c.bsp.maxQueueSize, 100);
      assert.equal(c.bsp.maxExportBatchSize, 100);
    },
  },
];

describe('readConfig: a bad value gives exactly one problem and a fallback', () => {
  for (const c of badCases) {
    const label = Object.entries(c.env)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    test(label, () => {
      const config = readConfig(c.env);
      assert.equal(
        config.problems.length,
        1,
        `expected exactly one problem, got:\n${config.problems.join('\n')}`
      );
      const problem = config.problems[0] ?? '';
      assert.ok(
        problem.includes(c.variable),
        `names ${c.variable}: ${problem}`
      );
      if (c.shown !== undefined) {
        assert.ok(
          problem.includes(c.shown),
          `names the value ${c.shown}: ${problem}`
        );
      }
      if (c.hidden !== undefined) {
        assert.ok(
          !problem.includes(c.hidden),
          `must not show the value: ${problem}`
        );
        assert.ok(
          !describeConfig(config).includes(c.hidden),
          'nor does describeConfig'
        );
      }
      assert.match(problem, c.fallback);
      c.check(config);
    });
  }
});

describe('readConfig: Prometheus (issue #16)', () => {
  test('prometheus is a metrics exporter, alone or with otlp; host and port default to the spec', () => {
    const alone = clean({ OTEL_METRICS_EXPORTER: 'prometheus' });
    assert.deepEqual(alone.exporters.metrics, ['prometheus']);
    assert.deepEqual(alone.prometheus, { host: 'localhost', port: 9464 });
    const both = clean({ OTEL_METRICS_EXPORTER: 'otlp, Prometheus' });
    assert.deepEqual(both.exporters.metrics, ['otlp', 'prometheus']);
    const set = clean({
      OTEL_EXPORTER_PROMETHEUS_HOST: '0.0.0.0',
      OTEL_EXPORTER_PROMETHEUS_PORT: '9100',
    });
    assert.deepEqual(set.prometheus, { host: '0.0.0.0', port: 9100 });
  });

  test('prometheus for traces, or a bad port, is reported and falls back', () => {
    const traces = readConfig({ OTEL_TRACES_EXPORTER: 'prometheus' });
    assert.deepEqual(traces.exporters.traces, ['otlp']);
    assert.deepEqual(traces.problems, [
      'OTEL_TRACES_EXPORTER="prometheus" is not valid (expected otlp, console or none); using otlp',
    ]);
    const port = readConfig({ OTEL_EXPORTER_PROMETHEUS_PORT: '70000' });
    assert.equal(port.prometheus.port, 9464);
    assert.deepEqual(port.problems, [
      'OTEL_EXPORTER_PROMETHEUS_PORT="70000" is not valid (expected a number from 0 to 65535); using 9464',
    ]);
    const metrics = readConfig({ OTEL_METRICS_EXPORTER: 'prometheus,zipkin' });
    assert.deepEqual(metrics.exporters.metrics, ['prometheus']);
    assert.deepEqual(metrics.problems, [
      'OTEL_METRICS_EXPORTER="zipkin" is not valid (expected otlp, console, prometheus or none); using prometheus',
    ]);
  });
});
