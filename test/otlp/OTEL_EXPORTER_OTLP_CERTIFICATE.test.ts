// OTLP over TLS through our transport (src/otlp-transport.ts), gRPC and HTTP: a TLS front on
// 127.0.0.1 with a certificate made for the test (openssl) forwards to the plain test receiver.
// With OTEL_EXPORTER_OTLP_CERTIFICATE naming that certificate every span arrives; without it the
// certificate is not trusted: one line, and the app serves and exits as without us. Also
// OTEL_EXPORTER_OTLP_COMPRESSION=gzip, over TLS and in clear.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { after, before, test } from 'node:test';
import { useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

let dir = '';
const fronts: Server[] = [];
const ports = { grpc: 0, http: 0 };

/** A TLS server on 127.0.0.1 that forwards each connection's plain bytes to `target`. */
async function tlsFront(
  target: number,
  key: Buffer,
  cert: Buffer
): Promise<number> {
  const server = createTlsServer(
    // h2 for gRPC, http/1.1 for OTLP/HTTP: what each client asks for in ALPN.
    { key, cert, ALPNProtocols: ['h2', 'http/1.1'] },
    socket => {
      const upstream = connect(target, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      const close = (): void => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on('error', close);
      upstream.on('error', close);
    }
  );
  fronts.push(server);
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'otel-forksafe-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'pipe' }
  );
});

/** The TLS fronts, started on first use (the sink is up only once the hooks have run). */
async function front(protocol: 'grpc' | 'http/protobuf'): Promise<number> {
  if (ports.grpc === 0) {
    const key = readFileSync(join(dir, 'key.pem'));
    const cert = readFileSync(join(dir, 'cert.pem'));
    const port = (url: string): number => Number(new URL(url).port);
    ports.grpc = await tlsFront(port(sink().grpcEndpoint), key, cert);
    ports.http = await tlsFront(port(sink().httpEndpoint), key, cert);
  }
  return protocol === 'grpc' ? ports.grpc : ports.http;
}
after(() => {
  for (const server of fronts) server.close();
  rmSync(dir, { recursive: true, force: true });
});

const REQUESTS = 5;

/** Runs the standalone app with `env`, sends REQUESTS requests, stops it. */
async function runApp(
  env: Record<string, string>
): Promise<ReturnType<typeof startNode>> {
  const app = startNode(fixture('standalone-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    env: { OTEL_BSP_SCHEDULE_DELAY: '100', ...env },
  });
  try {
    const port = Number(await app.waitForLine('READY'));
    assert.equal(await hammer(port, REQUESTS), REQUESTS, describe(app));
    app.send('stop');
    assert.deepEqual(
      await app.exited,
      { code: 0, signal: null },
      describe(app)
    );
    return app;
  } finally {
    app.kill();
  }
}

const serverSpans = (): number =>
  sink()
    .spans()
    .filter(s => s.kind === 2).length;

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  for (const compression of ['none', 'gzip'] as const) {
    test(`${protocol} over TLS with OTEL_EXPORTER_OTLP_CERTIFICATE, compression ${compression}: every span arrives`, async () => {
      sink().clear();
      const gzipBefore = sink().requests.gzip;
      const app = await runApp({
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: `https://localhost:${await front(protocol)}`,
        OTEL_EXPORTER_OTLP_CERTIFICATE: join(dir, 'cert.pem'),
        OTEL_EXPORTER_OTLP_COMPRESSION: compression,
      });
      await sink().waitFor(() => serverSpans() >= REQUESTS, {
        what: `${REQUESTS} server spans over TLS\n${describe(app)}`,
      });
      assert.equal(serverSpans(), REQUESTS);
      assert.equal(app.stderr, '');
      // The receiver counts gzip bodies on HTTP (gRPC decompresses before it sees them).
      if (protocol !== 'grpc')
        assert.equal(
          sink().requests.gzip > gzipBefore,
          compression === 'gzip',
          'content-encoding as configured'
        );
    });
  }

  test(`${protocol} over TLS without the certificate: not trusted, one line, the app unharmed`, async () => {
    sink().clear();
    const app = await runApp({
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT: `https://localhost:${await front(protocol)}`,
    });
    assert.equal(serverSpans(), 0, 'nothing arrives');
    const lines = forksafeLines(app.stderr);
    assert.ok(lines.length >= 1 && lines.length <= 2, describe(app));
    assert.match(lines[0] ?? '', /certificate|self.signed|TLS/i);
    assert.ok(!/^\s+at /m.test(app.stderr), 'no stack frames');
  });
}

test('gzip in clear over HTTP: the body is compressed, every span arrives', async () => {
  sink().clear();
  const gzipBefore = sink().requests.gzip;
  await runApp({
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink().httpEndpoint,
    OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
  });
  await sink().waitFor(() => serverSpans() >= REQUESTS, {
    what: `${REQUESTS} server spans`,
  });
  assert.ok(sink().requests.gzip > gzipBefore);
});
