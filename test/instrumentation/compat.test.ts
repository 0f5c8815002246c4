// Invisible to the app (#15): each fixture in fixtures/compat prints what the app observes of
// itself; run bare and with the preload in NODE_OPTIONS (as a test runner or CLI gets it, the
// collector refusing connections), the output must be the same and our stderr empty.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { linkExpress5 } from '../helpers/express5.ts';
import { useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe as describeRun,
  fixture,
  killAll,
  runNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();
const blackHole = useOtlpSink({ blackHole: true });

const compat = (name: string): string => fixture(join('compat', name));

before(() => void linkExpress5());

let refused = '';
before(async () => {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise(r => server.close(r));
  refused = `http://127.0.0.1:${port}`;
});

// Apps that record spans (every request through express does) export them: to a collector that
// is up, so that the only stderr lines would be ours. A refused collector is said in one line
// by design; the fixtures that record nothing run against one.
const up = (): string => sink().grpcEndpoint;

interface Observed {
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `name` bare and with the preload, alike in everything else. */
async function runBoth(
  name: string,
  options: {
    args?: string[];
    env?: Record<string, string>;
    endpoint?: string;
    /** NODE_OPTIONS of both runs (ours gets the preload after them). */
    nodeOptions?: string;
  } = {}
): Promise<{ bare: Observed; ours: Observed; repro: string }> {
  const common = {
    nodeArgs: ['--preserve-symlinks'],
    args: options.args ?? [],
    timeoutMs: 20000,
  };
  const env = {
    NODE_OPTIONS: options.nodeOptions,
    OTEL_METRICS_EXPORTER: undefined,
    OTEL_LOGS_EXPORTER: undefined,
    OTEL_EXPORTER_OTLP_ENDPOINT: options.endpoint ?? refused,
    ...options.env,
  };
  const bare = await runNode(compat(name), { ...common, env });
  const ours = await runNode(compat(name), {
    ...common,
    env: {
      ...env,
      NODE_OPTIONS:
        `${options.nodeOptions ?? ''} --import otel-forksafe/register`.trim(),
    },
  });
  return { bare, ours, repro: `${describeRun(bare)}\n${describeRun(ours)}` };
}

function assertSame(r: Awaited<ReturnType<typeof runBoth>>): void {
  assert.equal(r.ours.stdout, r.bare.stdout, r.repro);
  assert.equal(r.ours.code, r.bare.code, r.repro);
  assert.equal(r.ours.stderr, r.bare.stderr, r.repro);
}

describe('express 5 handlers see what they see uninstrumented', () => {
  test('a response that is not an EventEmitter, through the router', async () => {
    const r = await runBoth('router-plain-response.cjs', { endpoint: up() });
    assertSame(r);
    assert.match(r.bare.stdout, /"name":"never next","outcome":"pending"/);
    assert.doesNotMatch(r.ours.stdout, /uncaught|threw/, r.repro);
  });

  test('a mocha-like runner that stops at a late exception runs every test', async () => {
    const r = await runBoth('late-exception-runner.cjs', { endpoint: up() });
    assertSame(r);
    assert.match(r.ours.stdout, /"passed":4,"failed":0,"ran":4,"of":4/);
  });

  test('next is req.next in middleware, routers and error handlers', async () => {
    const r = await runBoth('next-identity.cjs', { endpoint: up() });
    assertSame(r);
    const { seen } = JSON.parse(r.ours.stdout) as {
      seen: Array<[string, boolean]>;
    };
    assert.equal(seen.length, 4, r.repro);
    // A route handler gets the route's own next, with or without us; the others req.next.
    for (const [where, same] of seen)
      assert.equal(same, where !== 'route handler', `${where}: ${r.repro}`);
  });

  test('express 4: next is req.next, and res.format passes it on', async () => {
    for (const name of ['next-identity.cjs', 'res-format.cjs']) {
      const r = await runBoth(name, { endpoint: up(), args: ['express4'] });
      assertSame(r);
    }
  });

  test('res.format passes the handler its own next, and a 406 to it', async () => {
    const r = await runBoth('res-format.cjs', { endpoint: up() });
    assertSame(r);
    assert.match(r.ours.stdout, /"middleware: default gets its next",true/);
    assert.match(r.ours.stdout, /"\/none",406/);
  });
});

describe('express 5 spans: one per layer', () => {
  test('express and router instrumentations together make no duplicate spans', async () => {
    sink().clear();
    const r = await runBoth('next-identity.cjs', { endpoint: up() });
    assertSame(r);
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.resource['process.pid'] === r.ours.pid && s.kind === 2),
      { what: 'the server span' }
    );
    const spans = sink()
      .spans()
      .filter(s => s.resource['process.pid'] === r.ours.pid);
    const scopes = new Set(spans.map(s => s.scope));
    assert.ok(
      scopes.has('@opentelemetry/instrumentation-express'),
      [...scopes].join()
    );
    assert.ok(
      !scopes.has('@opentelemetry/instrumentation-router'),
      [...scopes].join()
    );
    const names = spans
      .filter(s => s.kind !== 2 && s.kind !== 3)
      .map(s => s.name);
    // app middleware, router middleware (the same name), the /api router and the route.
    assert.deepEqual(names.sort(), [
      'middleware - <anonymous>',
      'middleware - <anonymous>',
      'request handler',
      'router - /api',
    ]);
  });

  test('the router package on its own is still traced', async () => {
    sink().clear();
    const r = await runBoth('router-alone.cjs', { endpoint: up() });
    assertSame(r);
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.scope === '@opentelemetry/instrumentation-router'),
      { what: 'router spans' }
    );
    const names = sink()
      .spans()
      .filter(s => s.scope === '@opentelemetry/instrumentation-router')
      .map(s => s.name)
      .sort();
    assert.deepEqual(names, [
      'middleware - logRequest',
      'request handler - /hello',
    ]);
  });
});

describe('the process as the app sees it', () => {
  test('module.parent, require.main and process listener counts', async () => {
    const r = await runBoth('module-parent.cjs', { endpoint: up() });
    assertSame(r);
    assert.match(r.ours.stdout, /"parent":"null","isMain":true/);
  });

  test('module.parent under --no-deprecation', async () => {
    const r = await runBoth('module-parent.cjs', {
      endpoint: up(),
      nodeOptions: '--no-deprecation',
    });
    assertSame(r);
  });

  test('under --pending-deprecation the app still gets its DEP0144 warning', async () => {
    const r = await runBoth('module-parent.cjs', {
      endpoint: up(),
      nodeOptions: '--pending-deprecation',
    });
    // Node's own warning, once, as without us; module.parent is left as --import makes it.
    const unpid = (text: string): string =>
      text.replace(/\(node:\d+\)/g, '(node)');
    assert.equal(unpid(r.ours.stderr), unpid(r.bare.stderr), r.repro);
    assert.match(r.ours.stderr, /DEP0144/);
  });

  test('the stack trace of an error thrown while a module loads', async () => {
    const r = await runBoth('throwing-require.cjs');
    assertSame(r);
    assert.doesNotMatch(r.ours.stdout, /otel-forksafe|preload\.js|shim/);
  });

  test('after an instrumented module loaded, only require-in-the-middle frames differ', async () => {
    const r = await runBoth('throwing-require.cjs', { args: ['after-http'] });
    const frames = (o: Observed): string[] =>
      (JSON.parse(o.stdout) as { stack: string[] }).stack;
    const ours = frames(r.ours);
    const bare = frames(r.bare);
    assert.doesNotMatch(ours.join('\n'), /wt-invisible\/dist|otel-forksafe/);
    // Upstream's require hook (shared by every instrumentation) wraps Module.prototype.require;
    // its frames live under node_modules, which error trackers count as not the app's.
    const foreign = ours.filter(
      f =>
        !bare.includes(f) && !f.includes('/node_modules/require-in-the-middle/')
    );
    const renamed = foreign.filter(
      f => !/at Module\.<anonymous> \(node:/.test(f)
    );
    assert.deepEqual(renamed, [], r.repro);
    assert.equal(ours[0], bare[0]);
    assert.equal(ours[1], bare[1]);
  });

  test('a primary counting its workers output lines', async () => {
    const r = await runBoth('cluster-worker-lines.cjs');
    assertSame(r);
    assert.match(r.ours.stdout, /"lines":\{"stdout":6,"stderr":0\}/);
  });

  test('nothing of a shutting-down SDK shows when the app loads modules at exit', async () => {
    const r = await runBoth('after-shutdown-require.cjs', { endpoint: up() });
    assertSame(r);
    assert.equal(r.ours.stdout, 'ended\n');
  });
});

describe('a short-lived process that recorded nothing sends and prints nothing', () => {
  for (const collector of ['up', 'refused', 'black-holed'] as const) {
    test(`one-line script, collector ${collector}`, async () => {
      sink().clear();
      const endpoint =
        collector === 'up'
          ? sink().grpcEndpoint
          : collector === 'refused'
            ? refused
            : blackHole().grpcEndpoint;
      const r = await runBoth('one-line.cjs', { endpoint });
      assertSame(r);
      assert.equal(r.ours.stdout, 'hello\n');
      // Nothing sent: the collector that is up saw no request at all.
      await new Promise(resolve => setTimeout(resolve, 200));
      const { traces, metrics, logs } = sink().requests;
      assert.deepEqual(
        { traces, metrics, logs },
        {
          traces: 0,
          metrics: 0,
          logs: 0,
        }
      );
    });
  }

  test('a script that records a span still exports it', async () => {
    sink().clear();
    const r = await runBoth('module-parent.cjs', {
      endpoint: sink().grpcEndpoint,
    });
    assertSame(r);
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.name === 'work'),
      {
        what: 'the span of a short-lived script',
      }
    );
  });
});
