// configFromModel (the SDK's parsed model onto our ForksafeConfig) and identityWithFileId, as
// tables: what a file's settings become, and the one sentence for what we cannot honour.
import assert from 'node:assert/strict';
import { suite, test } from 'node:test';
import {
  mergeHeadersConfig,
  mergePropagatorCompositeConfig,
  mergeResourceAttributesConfig,
} from '@opentelemetry/configuration';
import { configFromModel } from '../../src/config/from-config-file.ts';
import { readConfig } from '../../src/config/read-config.ts';
import type { ForksafeConfig } from '../../src/config/types.ts';
import { identityWithFileId } from '../../src/identity/file-id.ts';

const MERGE = {
  mergeHeadersConfig,
  mergePropagatorCompositeConfig,
  mergeResourceAttributesConfig,
} as Parameters<typeof configFromModel>[2];
const BASE = readConfig({
  OTEL_SERVICE_NAME: 'env-name',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
  OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS: '1234',
});

function map(model: object): ForksafeConfig {
  const result = configFromModel(model, BASE, MERGE);
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.settings.config;
}

const otlpGrpc = (extra: object = {}): object => ({
  processors: [{ batch: { exporter: { otlp_grpc: extra } } }],
});

suite('configFromModel: what a file becomes', () => {
  const cases: {
    name: string;
    model: object;
    check: (c: ForksafeConfig) => void;
  }[] = [
    {
      name: 'an empty file: no exporter, no propagator, no detector; our own knobs kept',
      model: {},
      check: c => {
        assert.deepEqual(c.exporters, { traces: [], metrics: [], logs: [] });
        assert.deepEqual(c.propagators, []);
        assert.deepEqual(c.resourceDetectors, ['env']);
        assert.equal(c.serviceName, undefined, 'OTEL_SERVICE_NAME ignored');
        assert.equal(c.shutdownTimeoutMillis, 1234);
        assert.deepEqual(c.sampler, {
          name: 'parentbased_always_on',
          ratio: 1,
        });
      },
    },
    {
      name: 'otlp_grpc without endpoint: localhost:4317, not the env endpoint',
      model: { tracer_provider: otlpGrpc() },
      check: c => {
        assert.deepEqual(c.exporters.traces, ['otlp']);
        assert.equal(c.otlp.traces.url, 'http://localhost:4317');
        assert.equal(c.otlp.traces.protocol, 'grpc');
        assert.equal(c.bsp.scheduledDelayMillis, 5000);
      },
    },
    {
      name: 'otlp_http json, gzip, timeout, tls, headers and headers_list',
      model: {
        logger_provider: {
          processors: [
            {
              batch: {
                schedule_delay: 50,
                exporter: {
                  otlp_http: {
                    encoding: 'json',
                    compression: 'gzip',
                    timeout: 2000,
                    tls: { ca_file: '/ca.pem' },
                    headers: [{ name: 'a', value: '1' }],
                    headers_list: 'a=2,b=3',
                  },
                },
              },
            },
          ],
        },
      },
      check: c => {
        const o = c.otlp.logs;
        assert.equal(o.protocol, 'http/json');
        assert.equal(o.url, 'http://localhost:4318/v1/logs');
        assert.equal(o.compression, 'gzip');
        assert.equal(o.timeoutMillis, 2000);
        assert.equal(o.certificateFile, '/ca.pem');
        assert.deepEqual(o.headers, { a: '1', b: '3' });
        assert.equal(c.blrp.scheduledDelayMillis, 50);
      },
    },
    {
      name: 'a periodic reader: interval and timeout; a console span processor',
      model: {
        meter_provider: {
          readers: [
            {
              periodic: {
                interval: 1000,
                timeout: 500,
                exporter: { console: null },
              },
            },
          ],
        },
        tracer_provider: {
          processors: [{ simple: { exporter: { console: null } } }],
        },
      },
      check: c => {
        assert.deepEqual(c.exporters.metrics, ['console']);
        assert.deepEqual(c.exporters.traces, ['console']);
        assert.deepEqual(c.metricExport, {
          intervalMillis: 1000,
          timeoutMillis: 500,
        });
      },
    },
    {
      name: 'samplers, propagators, resource, detectors, log level',
      model: {
        log_level: 'debug',
        resource: {
          attributes: [
            { name: 'service.name', value: 'file-name' },
            { name: 'replicas', value: 3, type: 'int' },
          ],
          attributes_list: 'team=a,service.name=ignored',
          'detection/development': {
            detectors: [{ host: null }, { process: null }],
          },
        },
        propagator: {
          composite: [{ tracecontext: null }],
          composite_list: 'b3,tracecontext',
        },
        tracer_provider: {
          ...otlpGrpc(),
          sampler: {
            parent_based: { root: { trace_id_ratio_based: { ratio: 0.25 } } },
          },
        },
      },
      check: c => {
        assert.equal(c.logLevel, 'debug');
        assert.equal(c.serviceName, 'file-name');
        assert.deepEqual(c.resourceAttributes, {
          'service.name': 'file-name',
          replicas: '3',
          team: 'a',
        });
        assert.deepEqual(c.resourceDetectors, ['env', 'host', 'os', 'process']);
        assert.deepEqual(c.propagators, ['tracecontext', 'b3']);
        assert.deepEqual(c.sampler, {
          name: 'parentbased_traceidratio',
          ratio: 0.25,
        });
      },
    },
    {
      name: 'the service detector takes OTEL_SERVICE_NAME; disabled: true',
      model: {
        disabled: true,
        resource: {
          'detection/development': { detectors: [{ service: null }] },
        },
      },
      check: c => {
        assert.equal(c.serviceName, 'env-name');
        assert.equal(c.disabled, true);
      },
    },
  ];
  for (const c of cases) test(c.name, () => c.check(map(c.model)));
});

suite('configFromModel: what it cannot honour, in one sentence', () => {
  const cases: { name: string; model: object; says: RegExp }[] = [
    {
      name: 'a pull (Prometheus) reader',
      model: {
        meter_provider: {
          readers: [{ pull: { exporter: { 'prometheus/development': {} } } }],
        },
      },
      says: /readers\/0\/pull is not supported.*OTEL_METRICS_EXPORTER=prometheus/,
    },
    {
      name: 'views',
      model: {
        meter_provider: { readers: [], views: [{ selector: {}, stream: {} }] },
      },
      says: /views are not supported/,
    },
    {
      name: 'two OTLP exporters for one signal',
      model: {
        tracer_provider: {
          processors: [
            ...(otlpGrpc() as { processors: object[] }).processors,
            ...(otlpGrpc() as { processors: object[] }).processors,
          ],
        },
      },
      says: /one otlp exporter per signal/,
    },
    {
      name: 'delta temporality',
      model: {
        meter_provider: {
          readers: [
            {
              periodic: {
                exporter: { otlp_grpc: { temporality_preference: 'delta' } },
              },
            },
          ],
        },
      },
      says: /only cumulative temporality/,
    },
    {
      name: 'an array resource attribute',
      model: {
        resource: {
          attributes: [{ name: 'tags', value: ['a'], type: 'string_array' }],
        },
      },
      says: /"tags" is an array/,
    },
    {
      name: 'an unknown sampler',
      model: {
        tracer_provider: {
          processors: [],
          sampler: { 'jaeger_remote/development': {} },
        },
      },
      says: /sampler\/jaeger_remote\/development is not supported/,
    },
    {
      name: 'a propagator we do not have',
      model: { propagator: { composite_list: 'xray' } },
      says: /\/propagator: xray not supported/,
    },
    {
      name: 'an endpoint that is not a URL',
      model: { tracer_provider: otlpGrpc({ endpoint: 'collector:4317' }) },
      says: /endpoint: "collector:4317" is not an http:\/\/ or https:\/\/ URL/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const result = configFromModel(c.model, BASE, MERGE);
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.match(result.reason, c.says);
        assert.ok(!result.reason.includes('\n'), 'one line');
      }
    });
  }
});

suite("identityWithFileId: the file's service.instance.id", () => {
  const single = {
    instanceId: 'random',
    attributes: {
      'service.instance.id': 'random',
      'process.pid': 1,
      'process.parent_pid': 0,
    },
  };
  const worker = {
    instanceId: 'base-w1',
    attributes: {
      ...single.attributes,
      'service.instance.id': 'base-w1',
      'nodejs.cluster.worker.slot': 1,
    },
  };
  const thread = {
    instanceId: 'base-w1',
    attributes: { ...worker.attributes, 'thread.id': 2 },
  };
  test('a single process takes it; a worker derives its own from it and its slot', () => {
    assert.equal(identityWithFileId(single, 'shop').instanceId, 'shop');
    const w = identityWithFileId(worker, 'shop');
    assert.equal(w.instanceId, 'shop-w1');
    assert.equal(w.attributes['service.instance.id'], 'shop-w1');
    assert.equal(w.derivedFrom, 'shop');
    assert.equal(identityWithFileId(single, undefined), single);
  });
  test('a process without a slot that is not single (a thread) keeps its own', () => {
    assert.equal(
      identityWithFileId(
        { ...thread, attributes: { ...single.attributes, 'thread.id': 2 } },
        'shop'
      ).instanceId,
      'base-w1'
    );
  });
});
