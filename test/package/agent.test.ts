// The agent directory for the OpenTelemetry Operator and Injector (scripts/build-agent.mjs):
// built, copied elsewhere, and named in NODE_OPTIONS alone, as the Operator does, with the
// variables the Operator sets. Apps run from a directory with no node_modules of theirs (so
// nothing can come from this repository's), and from fixtures/ beside their own packages.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { byPid, resourceValues, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  destroyPm2,
  freePort,
  makePm2Home,
  onlinePids,
  pm2,
  pm2Log,
} from '../helpers/pm2.ts';
import {
  describe,
  fixture,
  hammer,
  killAll,
  NODE,
  ROOT,
  runNode,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

let work = '';
let agent = '';
let appDir = '';
let newerApiDir = '';

before(() => {
  work = mkdtempSync(join(tmpdir(), 'otel-forksafe-agent-'));
  const built = join(work, 'built');
  execFileSync(
    NODE,
    [join(ROOT, 'scripts', 'build-agent.mjs'), '--out', built],
    {
      stdio: 'pipe',
    }
  );
  // What the Operator's init container does: copy the directory to a volume elsewhere.
  agent = join(work, 'otel-auto-instrumentation-nodejs');
  cpSync(built, agent, { recursive: true });
  rmSync(built, { recursive: true });
  appDir = join(work, 'app');
  newerApiDir = join(work, 'app-api-1.10');
  cpSync(fixture('plain-cluster-app.cjs'), join(appDir, 'server.cjs'));
  cpSync(fixture('worker-thread-app.cjs'), join(appDir, 'threads.cjs'));
  cpSync(fixture('own-api-app.cjs'), join(appDir, 'own-api.cjs'));
  cpSync(fixture('pm2-app.cjs'), join(appDir, 'pm2-app.cjs'));
  // The app's own, older API (the devDependency alias otel-api-1.9 is @opentelemetry/api@1.9.0).
  cpSync(
    join(ROOT, 'node_modules', 'otel-api-1.9'),
    join(appDir, 'node_modules', '@opentelemetry', 'api'),
    { recursive: true }
  );
  // A second app with its own copy of the newer API (1.10, as installed here).
  cpSync(fixture('own-api-app.cjs'), join(newerApiDir, 'own-api.cjs'));
  cpSync(
    join(ROOT, 'node_modules', '@opentelemetry', 'api'),
    join(newerApiDir, 'node_modules', '@opentelemetry', 'api'),
    { recursive: true }
  );
});
after(() => rmSync(work, { recursive: true, force: true }));

// What the Operator sets for a pod's container (its service.instance.id is one per container).
const OPERATOR_ATTRIBUTES = {
  'k8s.namespace.name': 'shop',
  'k8s.pod.name': 'api-7d9f8',
  'k8s.container.name': 'app',
  'service.instance.id': 'shop.api-7d9f8.app',
};
function operatorEnv(door: 'require' | 'import'): Record<string, string> {
  const file =
    door === 'require'
      ? join(agent, 'autoinstrumentation.js')
      : join(agent, 'autoinstrumentation.mjs');
  return {
    NODE_OPTIONS: `--${door} ${file}`,
    OTEL_SERVICE_NAME: 'checkout',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
    OTEL_RESOURCE_ATTRIBUTES: Object.entries(OPERATOR_ATTRIBUTES)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
}

test('the agent directory is small and has both doors', () => {
  for (const door of ['autoinstrumentation.js', 'autoinstrumentation.mjs'])
    assert.ok(statSync(join(agent, door)).isFile(), door);
  const out = execFileSync(
    NODE,
    [join(ROOT, 'scripts', 'build-agent.mjs'), '--out', join(work, 'size')],
    { encoding: 'utf8' }
  );
  const mb = Number(/([\d.]+) MB/.exec(out)?.[1]);
  assert.ok(mb > 1 && mb <= 20, `dist/agent is ${mb} MB (at most 20)`);
});

for (const door of ['require', 'import'] as const) {
  test(`--${door} of the agent from NODE_OPTIONS: each worker its own id with the k8s attributes, the primary dark, SIGTERM as without us`, async () => {
    sink().clear();
    const run = startNode(join(appDir, 'server.cjs'), {
      args: ['2'],
      env: operatorEnv(door),
      cwd: appDir,
    });
    try {
      const ready = JSON.parse(await run.waitForLine('READY')) as {
        port: number;
        primary: number;
        workers: number[];
      };
      assert.equal(await hammer(ready.port, 10), 10, describe(run));
      run.child.kill('SIGTERM');
      const { code, signal } = await run.exited;
      assert.deepEqual(
        { code, signal },
        { code: 0, signal: null },
        describe(run)
      );
      assert.equal(run.stderr, '', 'nothing on stderr');
      await sink().waitFor(
        () =>
          sink()
            .spans()
            .filter(s => s.kind === 2).length === 10,
        { what: '10 server spans' }
      );
      const spans = sink().spans();
      const pids = [...byPid(spans).keys()].sort();
      assert.deepEqual(pids, [...ready.workers].sort(), 'only the workers');
      assert.deepEqual(
        resourceValues(spans, 'service.instance.id'),
        new Set(['shop.api-7d9f8.app-w0', 'shop.api-7d9f8.app-w1']),
        'one id per worker, from the operator id'
      );
      for (const [key, value] of Object.entries(OPERATOR_ATTRIBUTES)) {
        if (key === 'service.instance.id') continue;
        assert.deepEqual(resourceValues(spans, key), new Set([value]), key);
      }
      assert.deepEqual(
        resourceValues(spans, 'service.name'),
        new Set(['checkout'])
      );
    } finally {
      run.kill();
    }
  });
}

test('an ES module express cluster beside its own packages, through the agent', async () => {
  sink().clear();
  const run = startNode(fixture('express-cluster-app.mjs'), {
    args: ['2'],
    env: operatorEnv('require'),
  });
  try {
    const ready = JSON.parse(await run.waitForLine('READY')) as {
      port: number;
      primary: number;
      workers: number[];
    };
    assert.equal(await hammer(ready.port, 8, '/users/3'), 8, describe(run));
    run.send('stop');
    assert.equal((await run.exited).code, 0, describe(run));
    assert.equal(run.stderr, '');
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .filter(
            s => s.kind === 2 && s.attributes['http.route'] === '/users/:id'
          ).length === 8,
      { what: '8 server spans with http.route' }
    );
    assert.ok(!byPid(sink().spans()).has(ready.primary), 'primary dark');
  } finally {
    run.kill();
  }
});

test('worker threads through the agent, in an app with its own API 1.9: one SDK per process, no thread spans', async () => {
  sink().clear();
  const run = await runNode(join(appDir, 'threads.cjs'), {
    env: operatorEnv('require'),
    cwd: appDir,
  });
  assert.equal(run.code, 0, describe(run));
  assert.equal(run.stderr, '');
  await sink().waitFor(
    () =>
      sink()
        .spans()
        .some(s => s.name === 'main-span'),
    { what: 'main-span' }
  );
  assert.ok(
    !sink()
      .spans()
      .some(s => s.name === 'thread-span'),
    'no thread span'
  );
  assert.deepEqual([...byPid(sink().spans()).keys()], [run.pid]);
});

for (const [api, dir] of [
  ['1.9.0', () => appDir],
  ['1.10.0', () => newerApiDir],
] as const) {
  test(`an app with its own API ${api} through the agent: module-load counter and child spans`, async () => {
    sink().clear();
    const run = startNode(join(dir(), 'own-api.cjs'), {
      args: ['2'],
      env: { ...operatorEnv('require'), OTEL_METRICS_EXPORTER: 'otlp' },
      cwd: dir(),
    });
    try {
      const ready = JSON.parse(await run.waitForLine('READY')) as {
        port: number;
        api: string;
        pids: number[];
      };
      assert.equal(ready.api, api);
      assert.equal(await hammer(ready.port, 6), 6, describe(run));
      run.send('stop');
      assert.equal((await run.exited).code, 0, describe(run));
      await sink().waitFor(
        () =>
          sink()
            .spans()
            .filter(s => s.name === 'load-user').length === 6 &&
          sink()
            .metrics()
            .some(m => m.name === 'app.handled'),
        { what: '6 load-user spans and the app.handled counter' }
      );
      const servers = new Set(
        sink()
          .spans()
          .filter(s => s.kind === 2)
          .map(s => s.spanId)
      );
      for (const span of sink()
        .spans()
        .filter(s => s.name === 'load-user'))
        assert.ok(servers.has(span.parentSpanId), 'child of a server span');
    } finally {
      run.kill();
    }
  });
}

test('an app that starts its own NodeSDK, through the agent: traced once, one line, no stack frames', async () => {
  sink().clear();
  const run = startNode(fixture('own-sdk-app.cjs'), {
    env: {
      ...operatorEnv('require'),
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    },
  });
  try {
    const port = Number(await run.waitForLine('READY'));
    assert.equal(await hammer(port, 10, '/own-sdk'), 10, describe(run));
    run.send('stop');
    assert.deepEqual(
      await run.exited,
      { code: 0, signal: null },
      describe(run)
    );
    const serverSpans = (): number =>
      sink()
        .spans()
        .filter(s => s.kind === 2).length;
    await sink().waitFor(() => serverSpans() >= 10, {
      what: '10 server spans',
    });
    // Anything exported twice would have arrived by now, with the first.
    await new Promise(r => setTimeout(r, 300));
    assert.equal(serverSpans(), 10, 'each request traced once');
    const lines = run.stderr.split('\n').filter(l => l !== '');
    assert.ok(lines.length <= 1, describe(run));
    assert.ok(!/^\s+at /m.test(run.stderr), 'no stack frames');
  } finally {
    run.kill();
  }
});

test('pm2 cluster mode with the agent in NODE_OPTIONS: 2 instances with their own ids, pm2 itself dark', async () => {
  sink().clear();
  const port = await freePort();
  const h = makePm2Home({
    ...operatorEnv('require'),
    PORT: String(port),
    OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
  });
  try {
    const started = await pm2(h, [
      'start',
      join(appDir, 'pm2-app.cjs'),
      '--name',
      'agent-app',
      '-i',
      '2',
    ]);
    assert.equal(started.code, 0, describe(started));
    let pids: number[] = [];
    for (const end = Date.now() + 15000; pids.length < 2;) {
      if (Date.now() > end) assert.fail(`2 instances online\n${pm2Log(h)}`);
      await new Promise(r => setTimeout(r, 200));
      pids = await onlinePids(h);
    }
    assert.equal(await hammer(port, 20), 20);
    await sink().waitFor(
      () => pids.every(pid => byPid(sink().spans()).has(pid)),
      { what: `spans from both instances\n${pm2Log(h)}` }
    );
    assert.deepEqual(
      [...byPid(sink().spans()).keys()].sort(),
      [...pids].sort(),
      'only the app instances export (not pm2, not its daemon)'
    );
    assert.equal(
      resourceValues(sink().spans(), 'service.instance.id').size,
      2,
      'one id per instance'
    );
  } finally {
    await destroyPm2(h);
  }
});
