// `otel-launch --print-config`: unit tests of the pure parts (origins, lints, the report) and
// the real CLI printing a configuration without ever showing a header value.
import assert from 'node:assert/strict';
import { describe as suite, test } from 'node:test';
import { join } from 'node:path';
import { readConfig } from '../../src/config/read-config.ts';
import {
  effectiveConfig,
  formatEffectiveConfig,
  lintConfig,
  originOf,
} from '../../src/cli/effective-config.ts';
import { editDistance, suggestName } from '../../src/cli/suggest.ts';
import { describe, ROOT, runNode } from '../helpers/run-node.ts';

const LAUNCHER = join(ROOT, 'dist', 'bin', 'otel-launch.js');
type Env = Record<string, string>;
const lint = (env: Env): string[] => lintConfig(env, readConfig(env));

suite('originOf', () => {
  test('flag beats env beats default; the per-signal variable is looked at first', () => {
    const names = [
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
    ];
    assert.deepEqual(originOf(names, {}, {}), { source: 'default' });
    assert.deepEqual(
      originOf(names, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, {}),
      { source: 'env', variable: 'OTEL_EXPORTER_OTLP_PROTOCOL' }
    );
    assert.deepEqual(
      originOf(
        names,
        { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
        { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }
      ),
      { source: 'flag', variable: 'OTEL_EXPORTER_OTLP_PROTOCOL' }
    );
    assert.deepEqual(
      originOf(
        names,
        { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' },
        { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }
      ),
      { source: 'env', variable: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' }
    );
    assert.deepEqual(
      originOf(names, { OTEL_EXPORTER_OTLP_PROTOCOL: ' ' }, {}),
      {
        source: 'default',
      }
    );
  });
});

suite(
  'lintConfig: each common mistake fires, and a clean setup is quiet',
  () => {
    const cases: Array<{ name: string; env: Env; expect: RegExp[] }> = [
      { name: 'defaults', env: {}, expect: [] },
      {
        name: 'a correct HTTP setup',
        env: {
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
          OTEL_EXPORTER_OTLP_HEADERS: 'api-key=abc',
          OTEL_SPAN_EVENT_COUNT_LIMIT: '10',
        },
        expect: [],
      },
      {
        name: 'http/protobuf aimed at 4317',
        env: {
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317',
        },
        expect: [
          /^traces: protocol http\/protobuf is sent to http:\/\/collector:4317\/v1\/traces, port 4317 is the OTLP\/gRPC port \(OTEL_EXPORTER_OTLP_ENDPOINT\); use port 4318/,
          /^metrics: protocol http\/protobuf .* port 4317/,
          /^logs: protocol http\/protobuf .* port 4317/,
        ],
      },
      {
        name: 'gRPC aimed at 4318, for one signal',
        env: {
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318',
        },
        expect: [
          /^traces: protocol grpc is sent to http:\/\/collector:4318, port 4318 is the OTLP\/HTTP port \(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT\); use port 4317/,
        ],
      },
      {
        name: 'a base endpoint that already ends in /v1/traces',
        env: {
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com/v1/traces',
        },
        expect: [
          /^OTEL_EXPORTER_OTLP_ENDPOINT=https:\/\/otlp.example.com\/v1\/traces already ends in \/v1\/traces, but it is the base endpoint: .*\/v1\/traces\/v1\/traces\); set it to https:\/\/otlp.example.com, or set OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/,
        ],
      },
      {
        name: 'a per-signal HTTP endpoint without its path',
        env: {
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318',
        },
        expect: [
          /^traces: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http:\/\/collector:4318 is used as is and has no \/v1\/traces path/,
        ],
      },
      {
        name: 'malformed headers, "Name: value" style',
        env: { OTEL_EXPORTER_OTLP_HEADERS: 'Authorization: Bearer s3cret' },
        expect: [
          /^OTEL_EXPORTER_OTLP_HEADERS is malformed \(value not shown\): .*write Name=value/,
        ],
      },
      {
        name: 'malformed per-signal headers',
        env: { OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'just-a-token' },
        expect: [
          /^OTEL_EXPORTER_OTLP_LOGS_HEADERS is malformed \(value not shown\)/,
        ],
      },
      {
        name: 'misspelt names get a suggestion',
        env: {
          OTEL_EXPORTER_OTLP_TRACE_ENDPOINT: 'http://x:4317',
          OTEL_SERVICENAME: 'api',
          OTEL_TRACE_EXPORTER: 'none',
        },
        expect: [
          /^OTEL_EXPORTER_OTLP_TRACE_ENDPOINT is not read by otel-forksafe; did you mean OTEL_EXPORTER_OTLP_TRACES_ENDPOINT\?$/,
          /^OTEL_SERVICENAME is not read by otel-forksafe; did you mean OTEL_SERVICE_NAME\?$/,
          /^OTEL_TRACE_EXPORTER is not read by otel-forksafe; did you mean OTEL_TRACES_EXPORTER\?$/,
        ],
      },
      {
        name: 'an unknown name with nothing close, and a lower-case one',
        env: { OTEL_PYTHON_LOG_CORRELATION: 'true', otel_service_name: 'api' },
        expect: [
          /^OTEL_PYTHON_LOG_CORRELATION is not read by otel-forksafe; it has no effect$/,
          /^otel_service_name is ignored: environment variable names are case-sensitive; use OTEL_SERVICE_NAME$/,
        ],
      },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const warnings = lint(c.env);
        assert.equal(warnings.length, c.expect.length, warnings.join('\n'));
        for (const re of c.expect) {
          assert.ok(
            warnings.some(w => re.test(w)),
            `${re} in\n${warnings.join('\n')}`
          );
        }
        for (const w of warnings) assert.doesNotMatch(w, /s3cret|just-a-token/);
      });
    }
  }
);

suite('suggestName', () => {
  test('edit distance', () => {
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('same', 'same'), 0);
  });
  test('close names are suggested, far ones are not', () => {
    const known = ['service-name', 'traces-exporter', 'local'];
    assert.equal(suggestName('servce-name', known), 'service-name');
    assert.equal(suggestName('trace-exporter', known), 'traces-exporter');
    assert.equal(suggestName('completely-different', known), undefined);
  });
});

suite('effectiveConfig', () => {
  const env: Env = {
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_HEADERS: 'api-key=env-secret-1',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOG_LEVEL: 'loud',
  };
  const flags: Env = {
    OTEL_SERVICE_NAME: 'api',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'authorization=Bearer%20flag-secret-2',
  };
  const report = effectiveConfig(env, flags);
  const text = formatEffectiveConfig(report);
  const row = (section: readonly { name: string }[], name: string): unknown =>
    section.find(r => r.name === name);

  test('each value with where it came from', () => {
    assert.deepEqual(row(report.general, 'service.name'), {
      name: 'service.name',
      value: 'api',
      origin: { source: 'flag', variable: 'OTEL_SERVICE_NAME' },
    });
    assert.deepEqual(row(report.signals.traces, 'url'), {
      name: 'url',
      value: 'http://collector:4318/v1/traces',
      origin: { source: 'flag', variable: 'OTEL_EXPORTER_OTLP_ENDPOINT' },
    });
    assert.deepEqual(row(report.signals.logs, 'protocol'), {
      name: 'protocol',
      value: 'http/protobuf',
      origin: { source: 'env', variable: 'OTEL_EXPORTER_OTLP_PROTOCOL' },
    });
    assert.deepEqual(row(report.signals.traces, 'timeout'), {
      name: 'timeout',
      value: '10000 ms',
      origin: { source: 'default' },
    });
    assert.deepEqual(row(report.signals.metrics, 'exporter'), {
      name: 'exporter',
      value: 'none',
      origin: { source: 'env', variable: 'OTEL_METRICS_EXPORTER' },
    });
    // A rejected value falls back to the default, and says so.
    assert.deepEqual(row(report.general, 'log level'), {
      name: 'log level',
      value: 'warn',
      origin: { source: 'default' },
    });
    assert.ok(report.warnings.some(w => w.startsWith('OTEL_LOG_LEVEL="loud"')));
  });

  test('header names are shown, values never', () => {
    assert.deepEqual(row(report.signals.traces, 'headers'), {
      name: 'headers',
      value: 'api-key=[REDACTED],authorization=[REDACTED]',
      origin: [
        { source: 'env', variable: 'OTEL_EXPORTER_OTLP_HEADERS' },
        { source: 'flag', variable: 'OTEL_EXPORTER_OTLP_TRACES_HEADERS' },
      ],
    });
    assert.doesNotMatch(text, /secret/);
    assert.match(text, /\(flag --service-name\)/);
    assert.match(text, /\(env OTEL_EXPORTER_OTLP_PROTOCOL\)/);
  });
});

suite('otel-launch --print-config (the real CLI)', () => {
  test('prints per-signal settings and origins, lints, and no header value', async () => {
    const run = await runNode(LAUNCHER, {
      args: [
        '--print-config',
        '--exporter_otlp_traces_headers',
        'authorization=Bearer%20tok-flag-123',
        '--exporter-otlp-protocol',
        'http/protobuf',
      ],
      env: {
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s3cret-env-value',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4317',
        OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'Authorization: Bearer tok-env-456',
        OTEL_SERVCE_NAME: 'typo',
      },
    });
    assert.equal(run.code, 0, describe(run));
    assert.doesNotMatch(run.stdout + run.stderr, /s3cret|tok-flag|tok-env/);
    assert.match(run.stdout, /^traces$/m);
    assert.match(run.stdout, /^metrics$/m);
    assert.match(run.stdout, /^logs$/m);
    assert.match(
      run.stdout,
      /^ {2}protocol +http\/protobuf +\(flag --exporter-otlp-protocol\)$/m
    );
    assert.match(
      run.stdout,
      /^ {2}url +http:\/\/localhost:4317\/v1\/traces +\(env OTEL_EXPORTER_OTLP_ENDPOINT\)$/m
    );
    assert.match(
      run.stdout,
      /^ {2}headers +api-key=\[REDACTED\],authorization=\[REDACTED\] +\(env OTEL_EXPORTER_OTLP_HEADERS \+ flag --exporter-otlp-traces-headers\)$/m
    );
    assert.match(
      run.stdout,
      /warning: traces: protocol http\/protobuf is sent to .* port 4317/
    );
    assert.match(
      run.stdout,
      /warning: OTEL_EXPORTER_OTLP_LOGS_HEADERS is malformed/
    );
    assert.match(
      run.stdout,
      /warning: OTEL_SERVCE_NAME .* did you mean OTEL_SERVICE_NAME\?/
    );
  });

  test('--help lists the flags grouped by signal', async () => {
    const run = await runNode(LAUNCHER, { args: ['--help'] });
    assert.equal(run.code, 0, describe(run));
    const groups = ['General:', 'Traces:', 'Metrics:', 'Logs:', 'Launcher:'];
    for (const g of groups) assert.match(run.stdout, new RegExp(`^${g}`, 'm'));
    const traces = run.stdout.slice(
      run.stdout.indexOf('Traces:'),
      run.stdout.indexOf('Metrics:')
    );
    assert.match(
      traces,
      /--exporter-otlp-traces-endpoint +OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/
    );
    assert.match(traces, /--traces-sampler /);
    assert.doesNotMatch(traces, /metrics/);
  });
});
