// Integration: OTEL_CONFIG_FILE on an express cluster app (express loaded before the fork). The
// file decides (its exporters, resource and ${env:…} values; the standard variables, aimed at a
// closed port, do not count); every worker exports with its own id, the primary nothing. A bad
// file: the app serves as without us, at most one line per process, no stack frames, nothing
// sent. Also the deprecated variable, otel-launch --config-file, --print-config and doctor.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { byPid, useOtlpSink, type OtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  ROOT,
  runNode,
  startNode,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

const IMPORT = ['--import', 'otel-forksafe/register'];
const LAUNCHER = join(ROOT, 'dist', 'bin', 'otel-launch.js');
const GOOD = fixture('config-file/cluster-app.yaml');
const SECRET = 'k3y-fr0m-env-5ecret';
const WORKERS = 2;

interface Ready {
  port: number;
  primary: number;
  workers: number[];
}

// A loopback port nothing listens on: where the standard variables point (they must not count).
let closedPort = 0;
// A directory: a path that exists and cannot be read as a file.
let directory = '';
before(async () => {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  closedPort = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>(r => server.close(() => r()));
  directory = mkdtempSync(join(tmpdir(), 'otel-config-dir-'));
});
after(() => rmSync(directory, { recursive: true, force: true }));

/** What the file substitutes from, and standard variables it must ignore. */
function fileEnv(s: OtlpSink): Record<string, string> {
  return {
    COLLECTOR_GRPC: s.grpcEndpoint,
    COLLECTOR_HTTP: s.httpEndpoint,
    COLLECTOR_API_KEY: SECRET,
    DEPLOY_ENV: 'ci',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}`,
    OTEL_SERVICE_NAME: 'name-from-env',
    OTEL_RESOURCE_ATTRIBUTES: 'service.instance.id=id-from-env',
    OTEL_TRACES_EXPORTER: 'none',
  };
}

// Runs the cluster app, sends 5 requests per worker's share, stops it; every process stopped.
async function runCluster(options: {
  env: Record<string, string>;
  nodeArgs?: string[];
  launcherArgs?: string[];
}): Promise<{ ready: Ready; stderr: string; repro: string }> {
  const app = fixture('express-cluster-app.cjs');
  const run = options.launcherArgs
    ? startNode(LAUNCHER, {
        args: [...options.launcherArgs, 'node', app, String(WORKERS)],
        env: options.env,
      })
    : startNode(app, {
        nodeArgs: options.nodeArgs ?? IMPORT,
        args: [String(WORKERS)],
        env: options.env,
      });
  try {
    const ready = JSON.parse(await run.waitForLine('READY')) as Ready;
    assert.equal(await hammer(ready.port, 10, '/users/7'), 10, describe(run));
    run.send('stop');
    const { code, signal } = await run.exited;
    assert.deepEqual(
      { code, signal },
      { code: 0, signal: null },
      describe(run)
    );
    await new Promise(r => setImmediate(r));
    return { ready, stderr: run.stderr, repro: describe(run) };
  } finally {
    run.kill();
  }
}

/** Every worker's spans and metrics arrive with the file's resource and its own id. */
async function assertWorkersExportFromFile(ready: Ready): Promise<void> {
  await sink().waitFor(
    () =>
      sink()
        .spans()
        .filter(s => s.kind === 2).length >= 10 &&
      ready.workers.every(pid => byPid(sink().metrics()).has(pid)),
    { what: '10 server spans and metrics from both workers', timeoutMs: 10000 }
  );
  const spans = byPid(sink().spans());
  const metrics = byPid(sink().metrics());
  assert.deepEqual([...spans.keys()].sort(), [...ready.workers].sort());
  assert.deepEqual([...metrics.keys()].sort(), [...ready.workers].sort());
  assert.ok(
    sink()
      .spans()
      .every(s => s.transport === 'grpc'),
    'traces: gRPC'
  );
  assert.ok(
    sink()
      .metrics()
      .every(m => m.transport === 'http/protobuf'),
    'metrics: OTLP/HTTP'
  );
  const ids = new Set<unknown>();
  for (const item of [...sink().spans(), ...sink().metrics()]) {
    assert.equal(item.resource['service.name'], 'shop-from-file');
    assert.equal(item.resource['deployment.environment.name'], 'ci');
    ids.add(item.resource['service.instance.id']);
  }
  // The file's id, made per worker (<id>-w<slot>): distinct, never the env's.
  assert.deepEqual([...ids].sort(), ['shop-1-w0', 'shop-1-w1']);
}

test('a cluster app: every worker exports what the file says, distinct ids; the primary nothing; env ignored', async () => {
  sink().clear();
  const { ready, stderr, repro } = await runCluster({
    env: { ...fileEnv(sink()), OTEL_CONFIG_FILE: GOOD },
  });
  assert.equal(stderr, '', repro);
  await assertWorkersExportFromFile(ready);
  assert.ok(!byPid(sink().spans()).has(ready.primary), 'no span from primary');
  assert.ok(!byPid(sink().metrics()).has(ready.primary), 'no metric either');
});

test('otel-launch --config-file: the same, the file given by flag', async () => {
  sink().clear();
  const { ready, stderr, repro } = await runCluster({
    env: fileEnv(sink()),
    launcherArgs: ['--config-file', GOOD],
  });
  assert.equal(stderr, '', repro);
  await assertWorkersExportFromFile(ready);
});

test('OTEL_EXPERIMENTAL_CONFIG_FILE: honoured, one deprecation line for the whole cluster', async () => {
  sink().clear();
  const { ready, stderr, repro } = await runCluster({
    env: { ...fileEnv(sink()), OTEL_EXPERIMENTAL_CONFIG_FILE: GOOD },
  });
  const lines = forksafeLines(stderr);
  assert.equal(lines.length, 1, repro);
  assert.match(
    lines[0] ?? '',
    /OTEL_EXPERIMENTAL_CONFIG_FILE is deprecated; rename it OTEL_CONFIG_FILE/
  );
  await assertWorkersExportFromFile(ready);
});

interface BadCase {
  name: string;
  file: () => string;
  /** What each process's one line must say. */
  says: RegExp;
}

const BAD: BadCase[] = [
  {
    name: 'missing',
    file: () => fixture('config-file/no-such-file.yaml'),
    says: /cannot read the file \(no such file\)/,
  },
  {
    name: 'unreadable (a directory)',
    file: () => directory,
    says: /cannot read the file \(it is a directory\)/,
  },
  {
    name: 'not YAML',
    file: () => fixture('config-file/not-yaml.yaml'),
    says: /not valid YAML at line \d+/,
  },
  {
    name: 'unsupported file_format',
    file: () => fixture('config-file/format-2.yaml'),
    says: /Unsupported file_format: "2\.0"/,
  },
  {
    name: 'the SDK rejects it (schema)',
    file: () => fixture('config-file/schema-error.yaml'),
    says: /invalid: \/tracer_provider\/processors\/0\/batch must NOT have additional properties/,
  },
  {
    name: 'valid, but asks what we cannot honour (zipkin)',
    file: () => fixture('config-file/zipkin.yaml'),
    says: /exporter\/zipkin is not supported by otel-forksafe/,
  },
];

for (const c of BAD) {
  test(`a bad file, ${c.name}: serves as without us, one line per process at most, nothing sent`, async () => {
    sink().clear();
    const { ready, stderr, repro } = await runCluster({
      env: {
        ...fileEnv(sink()),
        // Were the env honoured, spans would reach the sink.
        OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_CONFIG_FILE: c.file(),
      },
    });
    const lines = forksafeLines(stderr);
    assert.deepEqual(
      lines.map(l => /^otel-forksafe: \[\d+ /.exec(l)?.[0]).sort(),
      [
        ...new Set(lines.map(l => /^otel-forksafe: \[\d+ /.exec(l)?.[0])),
      ].sort(),
      `at most one line per process\n${repro}`
    );
    assert.ok(lines.length >= 1 && lines.length <= WORKERS, repro);
    assert.ok(
      !lines.some(l => new RegExp(`\\[${ready.primary} `).test(l)),
      'the primary never reads the file'
    );
    for (const line of lines) {
      assert.match(line, c.says, repro);
      assert.match(line, /the application continues without telemetry/);
    }
    assert.equal(
      stderr
        .split('\n')
        .filter(l => l !== '' && !l.startsWith('otel-forksafe:')).length,
      0,
      `nothing else on stderr (no stack frames)\n${repro}`
    );
    assert.deepEqual(unexpectedWarnings(stderr), []);
    assert.equal(sink().spans().length + sink().metrics().length, 0);
  });
}

test('--print-config: each value with file:line and the variables substituted; the header secret redacted', async () => {
  const run = await runNode(LAUNCHER, {
    args: ['--config-file', GOOD, '--print-config'],
    env: { ...fileEnv(sink()), DEPLOY_ENV: undefined },
  });
  assert.equal(run.code, 0, describe(run));
  const out = run.stdout;
  assert.ok(!out.includes(SECRET), 'the secret is never printed');
  assert.match(
    out,
    /\/otlp_grpc\/endpoint +http:\/\/127\.0\.0\.1:\d+ +\(cluster-app\.yaml:26, env COLLECTOR_GRPC\)/
  );
  assert.match(
    out,
    /\/otlp_grpc\/headers\/0\/value +\[REDACTED\] +\(cluster-app\.yaml:29, env COLLECTOR_API_KEY\)/
  );
  assert.match(
    out,
    /\/resource\/attributes\/2\/value +staging +\(cluster-app\.yaml:11, env DEPLOY_ENV \(unset\)\)/
  );
  assert.match(out, /^traces\n {2}exporters +otlp\n {2}protocol +grpc/m);
  assert.match(out, /^metrics\n(.*\n)* {2}protocol +http\/protobuf/m);
  assert.match(out, /headers +x-api-key=\[REDACTED\]/);
  assert.match(out, /^no warnings$/m);
});

test('--print-config: settings the file has that change nothing here are warnings; a bad file exits 1', async () => {
  const lint = await runNode(LAUNCHER, {
    args: ['--print-config'],
    env: { OTEL_CONFIG_FILE: fixture('config-file/ignored-settings.yaml') },
  });
  assert.equal(lint.code, 0, describe(lint));
  assert.match(lint.stdout, /^1 warning\(s\)$/m);
  assert.match(
    lint.stdout,
    /warning: \/attribute_limits is not applied by otel-forksafe \(ignored\)/
  );
  const bad = await runNode(LAUNCHER, {
    args: ['--print-config'],
    env: { OTEL_CONFIG_FILE: fixture('config-file/zipkin.yaml') },
  });
  assert.equal(bad.code, 1, describe(bad));
  assert.match(bad.stdout, /error: .*zipkin is not supported/);
  assert.match(bad.stdout, /would run without telemetry/);
});

test("doctor: one export per signal through the file's exporters, the header from env arrives", async () => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  try {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    sink().clear();
    const run = await runNode(LAUNCHER, {
      args: ['doctor'],
      env: {
        ...fileEnv(sink()),
        COLLECTOR_HTTP: `http://127.0.0.1:${port}`,
        OTEL_CONFIG_FILE: GOOD,
      },
    });
    assert.equal(run.code, 0, describe(run));
    assert.match(run.stdout, /traces.*OK/);
    assert.match(run.stdout, /metrics.*OK/);
    assert.ok(!run.stdout.includes(SECRET));
    // Traces over gRPC to the sink; metrics over HTTP here, with the key the file took from env.
    await sink().waitFor(() => sink().requests.traces >= 1, {
      what: "doctor's span",
    });
    assert.deepEqual(
      seen.map(h => [h['x-api-key'], h['content-type']]),
      [[SECRET, 'application/x-protobuf']]
    );
  } finally {
    await new Promise<void>(r => server.close(() => r()));
  }
});

test('the primary never loads the configuration package; the workers read the file when they export', async () => {
  sink().clear();
  const run = startNode(fixture('loaded-packages-app.cjs'), {
    nodeArgs: IMPORT,
    args: [String(WORKERS)],
    env: { ...fileEnv(sink()), OTEL_CONFIG_FILE: GOOD },
  });
  try {
    const ready = JSON.parse(await run.waitForLine('READY')) as {
      port: number;
      primary: string[];
      workers: { pid: number }[];
    };
    assert.ok(
      !ready.primary.includes('@opentelemetry/configuration'),
      describe(run)
    );
    assert.equal(await hammer(ready.port, 4, '/items/1'), 4, describe(run));
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .filter(s => s.kind === 2).length >= 4,
      { what: 'the server spans, exported as the file says' }
    );
    for (const span of sink().spans())
      assert.equal(span.resource['service.name'], 'shop-from-file');
    run.send('stop');
    const { code } = await run.exited;
    assert.equal(code, 0, describe(run));
    assert.equal(run.stderr, '', describe(run));
  } finally {
    run.kill();
  }
});
