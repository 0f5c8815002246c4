// `otel-launch doctor`, the real CLI: one export per enabled signal against the test receiver
// over each protocol (and it arrives), and a precise verdict against a closed port, the wrong
// protocol, TLS spoken to a plain port, a path that answers 404, and a server that never answers.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe as suite, test } from 'node:test';
import {
  startOtlpSink,
  useOtlpSink,
  type OtlpSink,
} from '../helpers/otlp-sink.ts';
import { describe, killAll, ROOT, runNode } from '../helpers/run-node.ts';

const LAUNCHER = join(ROOT, 'dist', 'bin', 'otel-launch.js');
after(killAll);
const sink = useOtlpSink();

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>(resolve => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

const doctor = (env: Record<string, string>, args: string[] = []) =>
  runNode(LAUNCHER, {
    args: [...args, 'doctor'],
    env: { OTEL_METRICS_EXPORTER: 'otlp', OTEL_LOGS_EXPORTER: 'otlp', ...env },
  });

/** The verdict line of one signal. */
const lineOf = (stdout: string, signal: string): string =>
  stdout.split('\n').find(l => l.startsWith(`${signal} `)) ?? '';

suite('otel-launch doctor: success', () => {
  for (const protocol of ['grpc', 'http/protobuf', 'http/json'] as const) {
    test(`${protocol}: every signal OK, and the exports arrived`, async () => {
      sink().clear();
      const endpoint =
        protocol === 'grpc' ? sink().grpcEndpoint : sink().httpEndpoint;
      const run = await doctor({ OTEL_SERVICE_NAME: 'doctor-test' }, [
        '--exporter-otlp-endpoint',
        endpoint,
        '--exporter_otlp_protocol',
        protocol,
        '--exporter-otlp-headers',
        'api-key=doctor-secret',
      ]);
      assert.equal(run.code, 0, describe(run));
      for (const signal of ['traces', 'metrics', 'logs']) {
        assert.match(
          lineOf(run.stdout, signal),
          / OK: accepted/,
          describe(run)
        );
      }
      assert.doesNotMatch(run.stdout + run.stderr, /doctor-secret/);
      const spans = sink().spans();
      assert.equal(spans.length, 1);
      assert.equal(spans[0]?.name, 'otel-launch doctor');
      assert.equal(spans[0]?.resource['service.name'], 'doctor-test');
      assert.equal(spans[0]?.transport, protocol);
      assert.equal(sink().metrics().length, 1);
      assert.equal(sink().logs().length, 1);
    });
  }

  test('a disabled signal is skipped; gzip works', async () => {
    sink().clear();
    const run = await doctor({
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'console',
    });
    assert.equal(run.code, 0, describe(run));
    assert.match(lineOf(run.stdout, 'traces'), / OK: accepted \(gRPC OK\)/);
    assert.match(lineOf(run.stdout, 'metrics'), /skipped: exporter none/);
    assert.match(lineOf(run.stdout, 'logs'), /skipped: exporter console/);
    assert.equal(sink().spans().length, 1);
  });
});

suite('otel-launch doctor: precise failures', () => {
  let blackHole: OtlpSink | undefined;
  after(async () => {
    await blackHole?.stop();
  });

  const cases: Array<{
    name: string;
    env: () => Promise<Record<string, string>>;
    expect: RegExp;
  }> = [
    {
      name: 'a closed port (gRPC): connection refused',
      env: async () => ({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
      }),
      expect:
        /FAILED: connection refused at 127\.0\.0\.1:\d+: nothing listens there/,
    },
    {
      name: 'a closed port (HTTP): connection refused',
      env: async () => ({
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
      }),
      expect: /FAILED: connection refused at 127\.0\.0\.1:\d+/,
    },
    {
      name: 'HTTP spoken to the gRPC port: wrong protocol',
      env: () =>
        Promise.resolve({
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
        }),
      expect:
        /FAILED: wrong protocol: .* did not answer in HTTP\/1\.1 .*use --exporter-otlp-protocol grpc/,
    },
    {
      name: 'gRPC spoken to the HTTP port: wrong protocol',
      env: () =>
        Promise.resolve({
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_EXPORTER_OTLP_ENDPOINT: sink().httpEndpoint,
        }),
      expect:
        /FAILED: wrong protocol: .* did not answer in HTTP\/2 .*use --exporter-otlp-protocol http\/protobuf/,
    },
    {
      name: 'https to a plain port: TLS',
      env: () =>
        Promise.resolve({
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_ENDPOINT: sink().httpEndpoint.replace(
            'http:',
            'https:'
          ),
        }),
      expect:
        /FAILED: TLS failed: .*the server does not speak TLS there: use http:\/\//,
    },
    {
      name: 'a per-signal endpoint without its path: HTTP 404 with the body',
      env: () =>
        Promise.resolve({
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${sink().httpEndpoint}/wrong`,
        }),
      expect:
        /FAILED: HTTP 404 Not Found from http:\/\/127\.0\.0\.1:\d+\/wrong: not found/,
    },
    {
      name: 'a server that never answers: timeout',
      env: async () => {
        blackHole ??= await startOtlpSink({ blackHole: true });
        return {
          OTEL_EXPORTER_OTLP_ENDPOINT: blackHole.grpcEndpoint,
          OTEL_EXPORTER_OTLP_TIMEOUT: '300',
        };
      },
      expect: /FAILED: no answer within 300 ms/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const run = await doctor(await c.env());
      assert.equal(run.code, 1, describe(run));
      assert.match(lineOf(run.stdout, 'traces'), c.expect, describe(run));
    });
  }
});
