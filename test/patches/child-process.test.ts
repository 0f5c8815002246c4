// child_process: a child started from an instrumented request handler is instrumented as its
// own process (process.parent_pid) and its spans continue the handler's trace through
// TRACEPARENT in its environment; non-Node children see the same variable.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { useOtlpSink, type ReceivedSpan } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  killAll,
  startNode,
  type RunningNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();

// The children call this server (in the test process, so a parent blocked in spawnSync or
// execSync cannot deadlock them); it records the traceparent each request carried.
const leafHeaders: string[] = [];
const leaf = http.createServer((req, res) => {
  leafHeaders.push(String(req.headers.traceparent ?? ''));
  res.setHeader('connection', 'close');
  res.end('leaf');
});
let leafUrl = '';
before(async () => {
  await new Promise<void>(r => leaf.listen(0, '127.0.0.1', r));
  leafUrl = `http://127.0.0.1:${(leaf.address() as AddressInfo).port}/leaf`;
});
after(() => leaf.close());

const IMPORT = ['--import', 'otel-forksafe/register'];
const SERVER = 2;
const CLIENT = 3;

/** GET 127.0.0.1:port/path; resolves with status and body. */
function get(
  port: number,
  path: string
): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent: false, timeout: 15000 },
      res => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolvePromise({ status: res.statusCode ?? 0, body })
        );
      }
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

async function startApp(
  env: Record<string, string> = {},
  nodeArgs: string[] = IMPORT
): Promise<{ app: RunningNode; port: number }> {
  const app = startNode(fixture('child-process-app.cjs'), {
    nodeArgs,
    args: [leafUrl],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ...env,
    },
    timeoutMs: 60000,
  });
  return { app, port: Number(await app.waitForLine('READY')) };
}

async function stop(app: RunningNode): Promise<void> {
  app.send('stop');
  assert.equal((await app.exited).code, 0, describe(app));
}

const HOWS = [
  'fork',
  'spawn',
  'exec',
  'execFile',
  'promisified-exec',
  'spawnSync',
  'execSync',
];

test('a child started from a request handler continues its trace (fork, spawn, exec, …)', async () => {
  sink().clear();
  const { app, port } = await startApp();
  try {
    const children = new Map<string, number>();
    for (const how of HOWS) {
      const res = await get(port, `/run/${how}`);
      assert.equal(res.status, 200, `${how}: ${res.body}\n${describe(app)}`);
      const pid = Number(/CHILD (\d+)/.exec(res.body)?.[1]);
      assert.ok(pid > 0, `${how}: ${res.body}`);
      children.set(how, pid);
    }
    await stop(app);
    const spans = (): ReceivedSpan[] => sink().spans();
    const serverSpan = (how: string): ReceivedSpan | undefined =>
      spans().find(
        s =>
          s.kind === SERVER &&
          s.resource['process.pid'] === app.pid &&
          s.attributes['url.path'] === `/run/${how}`
      );
    await sink().waitFor(
      () =>
        HOWS.every(
          how =>
            serverSpan(how) !== undefined &&
            spans().some(s => s.resource['process.pid'] === children.get(how))
        ),
      {
        what: 'every parent server span and every child span',
        timeoutMs: 10000,
      }
    );
    for (const how of HOWS) {
      const parent = serverSpan(how);
      assert.ok(parent, how);
      const childPid = children.get(how);
      const childSpans = spans().filter(
        s => s.resource['process.pid'] === childPid
      );
      const client = childSpans.find(s => s.kind === CLIENT);
      assert.ok(client, `${how}: the child's HTTP client span arrived`);
      // exec and execSync start a shell, which starts node: its parent is the shell.
      if (!how.includes('exec') || how === 'execFile') {
        assert.equal(
          client.resource['process.parent_pid'],
          app.pid,
          `${how}: process.parent_pid`
        );
      }
      assert.notEqual(
        client.resource['service.instance.id'],
        parent.resource['service.instance.id'],
        `${how}: the child has its own identity`
      );
      assert.equal(client.traceId, parent.traceId, `${how}: one trace`);
      assert.equal(
        client.parentSpanId,
        parent.spanId,
        `${how}: the child's first span is a child of the handler's server span`
      );
      // The child's outgoing request carried the trace on to the server it called.
      assert.ok(
        leafHeaders.includes(`00-${parent.traceId}-${client.spanId}-01`),
        `${how}: the child's request propagated the trace`
      );
    }
  } finally {
    app.kill();
  }
});

test('non-Node children get TRACEPARENT; one the caller sets explicitly is kept', async () => {
  sink().clear();
  const { app, port } = await startApp({
    // An inherited value (from a CI runner, say) is replaced by the active span's context.
    TRACEPARENT: '00-11111111111111111111111111111111-2222222222222222-01',
  });
  try {
    const exec = await get(port, '/env/exec');
    const spawned = await get(port, '/env/spawn');
    const explicit = await get(port, '/env/explicit');
    await stop(app);
    const format = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
    for (const [how, res] of [
      ['exec', exec],
      ['spawn', spawned],
    ] as const) {
      const match = format.exec(res.body);
      assert.ok(match, `${how}: TRACEPARENT ${JSON.stringify(res.body)}`);
      await sink().waitFor(
        () =>
          sink()
            .spans()
            .some(s => s.kind === SERVER && s.spanId === match[2]),
        { what: `the server span named by ${how}'s TRACEPARENT` }
      );
      const server = sink()
        .spans()
        .find(s => s.spanId === match[2]);
      assert.equal(server?.attributes['url.path'], `/env/${how}`);
      // The inherited context is the root of the server process's own spans too.
      assert.equal(server?.traceId, match[1]);
    }
    assert.equal(
      explicit.body,
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'a TRACEPARENT given in options.env is passed as given'
    );
  } finally {
    app.kill();
  }
});

test('TRACEPARENT from the environment parents the first spans of a process', async () => {
  sink().clear();
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentId = '00f067aa0ba902b7';
  const child = startNode(fixture('http-get-child.cjs'), {
    nodeArgs: IMPORT,
    args: ['http://127.0.0.1:9/'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      TRACEPARENT: `00-${traceId}-${parentId}-01`,
    },
  });
  try {
    child.child.stdin?.end();
    await child.exited;
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.resource['process.pid'] === child.pid),
      { what: 'the child span' }
    );
    const span = sink()
      .spans()
      .find(s => s.resource['process.pid'] === child.pid);
    assert.equal(span?.traceId, traceId, describe(child));
    assert.equal(span?.parentSpanId, parentId);
  } finally {
    child.kill();
  }
});

test('ES modules: named imports of node:child_process are wrapped too', async () => {
  sink().clear();
  const app = startNode(fixture('child-process-esm.mjs'), {
    nodeArgs: IMPORT,
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
  try {
    const seen = JSON.parse(await app.waitForLine('TRACEPARENTS')) as {
      named: string;
      default: string;
    };
    app.child.stdin?.end();
    assert.equal((await app.exited).code, 0, describe(app));
    await sink().waitFor(
      () =>
        sink()
          .spans()
          .some(s => s.name === 'parent'),
      { what: 'the parent span' }
    );
    const parent = sink()
      .spans()
      .find(s => s.name === 'parent');
    const expected = `00-${parent?.traceId}-${parent?.spanId}-01`;
    assert.deepEqual(seen, { named: expected, default: expected });
  } finally {
    app.kill();
  }
});
