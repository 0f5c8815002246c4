// Loss report: spans sent vs spans received, for otel-forksafe and for the upstream
// `@opentelemetry/auto-instrumentations-node/register`, on the shutdown fixtures.
// Run: npm run loss   (prints a table; no assertion, the tests hold the assertions)
import http from 'node:http';
import { startOtlpSink, type OtlpSink } from '../test/helpers/otlp-sink.ts';
import { fixture, killAll, startNode } from '../test/helpers/run-node.ts';

type Preload = 'ours' | 'upstream';
const PRELOADS: Record<Preload, string[]> = {
  ours: ['--import', 'otel-forksafe/register'],
  upstream: ['--require', '@opentelemetry/auto-instrumentations-node/register'],
};

interface Row {
  scenario: string;
  preload: Preload;
  sent: number;
  received: number;
  end: string;
}

function envFor(sink: OtlpSink): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.grpcEndpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'fs,dns,net',
    OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
  };
}

function get(port: number, path: string): Promise<number> {
  return new Promise(resolve => {
    const req = http.get(
      { host: '127.0.0.1', port, path, agent: false, timeout: 5000 },
      res => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function serverSpans(sink: OtlpSink, prefix: string): number {
  const ids = new Set<string>();
  for (const s of sink.spans()) {
    const path = String(
      s.attributes['url.path'] ?? s.attributes['http.target']
    );
    if (s.kind === 2 && path.startsWith(prefix)) ids.add(path);
  }
  return ids.size;
}

const settle = (ms: number) => new Promise(r => setTimeout(r, ms));

async function endOf(
  app: ReturnType<typeof startNode>,
  boundMs: number
): Promise<string> {
  const timer = setTimeout(() => app.kill(), boundMs);
  const { code, signal } = await app.exited;
  clearTimeout(timer);
  return signal === 'SIGKILL'
    ? `still alive after ${boundMs / 1000} s`
    : (signal ?? `exit ${code}`);
}

async function exitPaths(sink: OtlpSink, preload: Preload): Promise<Row[]> {
  const rows: Row[] = [];
  for (const mode of ['natural', 'exit', 'throw', 'reject', 'serve']) {
    const run = `${preload}-${mode}`;
    const app = startNode(fixture('exit-app.cjs'), {
      nodeArgs: PRELOADS[preload],
      args: [mode, run],
      env: envFor(sink),
    });
    app.child.stdin?.end();
    if (mode === 'serve') {
      await app.waitForLine('READY');
      process.kill(app.pid, 'SIGTERM');
    }
    const end = await endOf(app, 6000);
    await settle(1500);
    const received = sink
      .spans()
      .filter(s => s.attributes['fixture.run'] === run).length;
    const scenario =
      mode === 'serve' ? 'SIGTERM, no app handler' : `exit path: ${mode}`;
    rows.push({ scenario, preload, sent: 20, received, end });
  }
  return rows;
}

async function rolling(sink: OtlpSink, preload: Preload): Promise<Row> {
  const app = startNode(fixture('rolling-cluster-app.cjs'), {
    nodeArgs: PRELOADS[preload],
    args: ['4'],
    env: envFor(sink),
    timeoutMs: 120000,
  });
  const { port } = JSON.parse(await app.waitForLine('READY', 60000)) as {
    port: number;
  };
  let answered = 0;
  let rolled = false;
  let next = 0;
  let stuck = '';
  const rolls = (async () => {
    while (answered < 200) await settle(10);
    try {
      app.send('roll disconnect');
      await app.waitForLine('ROLLED disconnect', 30000);
      app.send('roll kill');
      await app.waitForLine('ROLLED kill', 30000);
    } catch {
      stuck = app.stdout.includes('ROLLED disconnect')
        ? "; kill('SIGTERM') roll stuck: a SIGTERMed worker never exited"
        : '; disconnect() roll stuck';
    }
    rolled = true;
  })();
  const client = async () => {
    for (;;) {
      const i = next++;
      if (i >= 2000) return;
      while (i >= 1800 && !rolled) await settle(20);
      for (let a = 0; a < 20; a++)
        if ((await get(port, `/r/${preload}-roll-${i}`)) === 200) {
          answered++;
          break;
        }
    }
  };
  await Promise.all([rolls, ...Array.from({ length: 6 }, client)]);
  app.send('stop');
  const end = await endOf(app, 15000);
  await settle(3000);
  return {
    scenario: "rolling restart, 4 workers: disconnect() then kill('SIGTERM')",
    preload,
    sent: answered,
    received: serverSpans(sink, `/r/${preload}-roll-`),
    end: `primary ${end}${stuck}`,
  };
}

async function primarySigterm(sink: OtlpSink, preload: Preload): Promise<Row> {
  const app = startNode(fixture('rolling-cluster-app.cjs'), {
    nodeArgs: PRELOADS[preload],
    args: ['4'],
    env: envFor(sink),
  });
  const { port } = JSON.parse(await app.waitForLine('READY', 60000)) as {
    port: number;
  };
  let answered = 0;
  for (let i = 0; i < 200; i++)
    if ((await get(port, `/r/${preload}-term-${i}`)) === 200) answered++;
  process.kill(app.pid, 'SIGTERM');
  const end = await endOf(app, 6000);
  await settle(3000);
  return {
    scenario: 'SIGTERM to the primary after 200 requests',
    preload,
    sent: answered,
    received: serverSpans(sink, `/r/${preload}-term-`),
    end: `primary ${end}`,
  };
}

async function crash(sink: OtlpSink, preload: Preload): Promise<Row> {
  const app = startNode(fixture('crash-worker-app.cjs'), {
    nodeArgs: PRELOADS[preload],
    args: ['25'],
    env: envFor(sink),
  });
  const port = Number(await app.waitForLine('READY', 60000));
  let answered = 0;
  for (let i = 0; i < 25; i++)
    if ((await get(port, `/r/${preload}-crash-${i}`)) === 200) answered++;
  const exit = await app.waitForLine('WORKER_EXIT');
  await endOf(app, 6000);
  await settle(2000);
  return {
    scenario: 'worker throws after 25 requests',
    preload,
    sent: answered,
    received: serverSpans(sink, `/r/${preload}-crash-`),
    end: `worker ${exit}`,
  };
}

const sink = await startOtlpSink();
const rows: Row[] = [];
try {
  for (const preload of ['ours', 'upstream'] as const) {
    rows.push(...(await exitPaths(sink, preload)));
    rows.push(await crash(sink, preload));
    rows.push(await primarySigterm(sink, preload));
    rows.push(await rolling(sink, preload));
  }
} finally {
  killAll();
  await sink.stop();
}
console.log(
  '| scenario | preload | spans sent | received | lost | how it ended |'
);
console.log('| --- | --- | ---: | ---: | ---: | --- |');
for (const r of rows) {
  console.log(
    `| ${r.scenario} | ${r.preload} | ${r.sent} | ${r.received} | ${r.sent - r.received} | ${r.end} |`
  );
}
