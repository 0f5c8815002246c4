// `npm run bench [-- --short] [-- --rounds N] [-- --node PATH]`: measures bare node, the
// upstream register of the same SDK line (@opentelemetry/auto-instrumentations-node/register)
// and otel-forksafe in one run, rounds alternating the three, and prints medians (with min and
// max) and ratios; also writes bench/results.json (or --out). Never part of the test suite: CI
// runs `--short` to prove it works. Rows and targets: bench/rows.ts.
// `--previous DIR`: also an earlier release of ours (a built checkout with its own
// node_modules, e.g. a git worktree after `npm ci && npm run build`), on the same Node in the
// same rounds, in the primary, startup and throughput rows: what "not worse than the previous
// release" means without comparing figures taken on different Node lines or days.
// `--env K=V,K=V`: extra variables for every instrumented variant (e.g. every exporter `none`,
// or one instrumentation), to find out which part of the instrumented path a row comes from.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import autocannon from 'autocannon';
import { startOtlpSink, type OtlpSink } from '../test/helpers/otlp-sink.ts';
import {
  hammer,
  killAll,
  ROOT,
  startNode,
  type RunningNode,
} from '../test/helpers/run-node.ts';
import { report, rows, SHAPES, type Shape } from './rows.ts';
import { benchShortLived } from './short-lived.ts';
import {
  ALL_VARIANTS,
  record,
  samples,
  VARIANTS,
  type Variant,
} from './stats.ts';

const { values: flags } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    spans: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
    node: { type: 'string' },
    previous: { type: 'string' },
    env: { type: 'string' },
  },
});
// `--only shapes,startup,throughput,export,short-lived` runs a subset (while working on one).
const ONLY = new Set(
  (flags.only ?? 'shapes,startup,throughput,export,short-lived')
    .split(',')
    .map(s => s.trim())
);
const SHORT = flags.short === true;
const ROUNDS = Number(flags.rounds ?? (SHORT ? 1 : 3));
// The Node that runs the apps (default: the one running this script).
const NODE = flags.node ?? process.execPath;
// CPU is reported per 10,000 spans whatever the count made.
const SPANS = Number(flags.spans ?? (SHORT ? 2000 : 10000));
// Requests per worker before the steady-state RSS: past the point where bare node's RSS has
// stopped growing. The throughput run sends them (2 workers).
const STEADY_REQUESTS = SHORT ? 2000 : 20000;
// Worker starts measured per variant and round.
const STARTS_PER_ROUND = SHORT ? 1 : 4;
// Runs of the one-line script per variant and collector mode.
const SHORT_LIVED_RUNS = SHORT ? 3 : 20;
// What the one-line script runs of ours printed and sent, per collector mode.
const shortLivedNotes: Record<string, string> = {};
const OUT =
  flags.out ??
  (SHORT
    ? join(ROOT, '.tmp', 'bench-short.json')
    : join(ROOT, 'bench', 'results.json'));

// Our V8 code cache (src/loading/code-cache.ts) lives here during a run: emptied at the start, filled
// by a warm-up run, so every measured start of ours is a warm one, as in a service that has
// started before. Cold starts (no cache) are measured too, in rows of their own.
const CODE_CACHE = join(ROOT, '.tmp', 'bench-code-cache');
// Node's own compile cache, for the rows that compare it with ours (bare and ours alike).
const NODE_COMPILE_CACHE = join(ROOT, '.tmp', 'bench-node-compile-cache');

const PREVIOUS = flags.previous;
const EXTRA_ENV: Record<string, string> = Object.fromEntries(
  (flags.env ?? '')
    .split(',')
    .filter(pair => pair.includes('='))
    .map(pair => [
      pair.slice(0, pair.indexOf('=')),
      pair.slice(pair.indexOf('=') + 1),
    ])
);
const PRELOAD: Record<Variant, string[]> = {
  bare: [],
  upstream: ['--require', '@opentelemetry/auto-instrumentations-node/register'],
  forksafe: ['--import', 'otel-forksafe/register'],
  previous:
    PREVIOUS === undefined
      ? []
      : ['--import', join(PREVIOUS, 'dist', 'register.js')],
};
// The variants measured in the rows the previous release takes part in.
const COMPARED: readonly Variant[] =
  PREVIOUS === undefined ? VARIANTS : ALL_VARIANTS;

// Dev note: upstream enables dns and net by default and runs every resource detector (cloud
// ones included); both are off in otel-forksafe. The upstream variant is configured to match,
// so both export the same spans with the same instrumentations (fs and host-metrics are off
// by default in both).
const UPSTREAM_ENV = {
  OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'fs,dns,net',
  OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process',
};

function envFor(
  variant: Variant,
  sink: OtlpSink,
  protocol: 'grpc' | 'http/protobuf',
  extra: Record<string, string> = {}
): Record<string, string | undefined> {
  // Start from nothing OTel-related: the runner's own settings must not leak in.
  const env: Record<string, string | undefined> = {};
  for (const key of Object.keys(process.env))
    if (key.startsWith('OTEL_')) env[key] = undefined;
  env.NODE_OPTIONS = undefined;
  env.NODE_COMPILE_CACHE = undefined;
  // run-node's base env turns metrics and logs off; the benchmark keeps every default.
  env.OTEL_METRICS_EXPORTER = undefined;
  env.OTEL_LOGS_EXPORTER = undefined;
  if (variant !== 'bare')
    Object.assign(env, {
      // The previous release keeps its code cache apart (its format may differ).
      OTEL_FORKSAFE_CODE_CACHE:
        variant === 'previous' ? `${CODE_CACHE}-previous` : CODE_CACHE,
      OTEL_SERVICE_NAME: 'bench',
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT:
        protocol === 'grpc' ? sink.grpcEndpoint : sink.httpEndpoint,
      ...(variant === 'upstream' ? UPSTREAM_ENV : {}),
    });
  return { ...env, ...(variant === 'bare' ? {} : EXTRA_ENV), ...extra };
}

const MB = 1024 * 1024;

interface ReadyLine {
  port: number;
  firstForkMs: number;
  primaryRssAtFork: number;
  primaryRssListening: number;
  workers: Array<{
    pid: number;
    spawnToListenMs: number;
    cpuToListenMs: number;
    rssAtListen: number;
  }>;
}
interface RssLine {
  primary: number;
  workers: number[];
  heapUsed: number[];
}

async function stopCluster(app: RunningNode): Promise<void> {
  app.send('stop');
  const timer = setTimeout(() => app.kill(), 10_000);
  await app.exited;
  clearTimeout(timer);
}

/** The latest line starting with `prefix` after sending `command`. */
async function ask(app: RunningNode, command: string, prefix: string) {
  app.stdout = ''; // waitForLine returns the first matching line: forget the last one
  app.send(command);
  return JSON.parse(await app.waitForLine(prefix, 30_000)) as unknown;
}

/**
 * A benchmark app (bench/fixtures) with `workers` workers under `variant`: `work` runs once all
 * listen, then the cluster is stopped. A failure kills it and names what failed, with a repro.
 */
async function withCluster(
  what: string,
  variant: Variant,
  options: {
    app?: string;
    workers: number;
    env: Record<string, string | undefined>;
    timeoutMs: number;
  },
  work: (app: RunningNode, ready: ReadyLine) => Promise<void>
): Promise<void> {
  const app = startNode(
    join(ROOT, 'bench', 'fixtures', options.app ?? 'cluster-server.cjs'),
    {
      command: NODE,
      nodeArgs: PRELOAD[variant],
      args: [String(options.workers)],
      env: options.env,
      timeoutMs: options.timeoutMs,
    }
  );
  try {
    const ready = JSON.parse(
      await app.waitForLine('READY ', 30_000)
    ) as ReadyLine;
    await work(app, ready);
    await stopCluster(app);
  } catch (err) {
    app.kill();
    throw new Error(`${what} failed: ${app.repro}\n${app.stderr}`, {
      cause: err,
    });
  }
}

// A primary of each app shape: start to first fork, RSS at the fork, once 2 workers listen,
// and after each worker has been replaced.
async function measureShape(
  shape: Shape,
  variant: Variant,
  sink: OtlpSink
): Promise<void> {
  await withCluster(
    `${variant} ${shape} run`,
    variant,
    {
      app: SHAPES[shape],
      workers: 2,
      env: envFor(variant, sink, 'grpc'),
      timeoutMs: 60_000,
    },
    async (app, ready) => {
      record(`primary.${shape}.firstForkMs`, variant, ready.firstForkMs);
      record(
        `primary.${shape}.rssAtForkMB`,
        variant,
        ready.primaryRssAtFork / MB
      );
      record(
        `primary.${shape}.rssListeningMB`,
        variant,
        ready.primaryRssListening / MB
      );
      await hammer(ready.port, 20, '/');
      const { primaryRss } = (await ask(app, 'replace', 'REPLACED ')) as {
        primaryRss: number;
      };
      record(`primary.${shape}.rssReplacedMB`, variant, primaryRss / MB);
    }
  );
}

// A worker's spawn-to-listening wall and CPU time. `cold`: ours without our code cache;
// `nodeCache`: Node's compile cache for the whole process instead (bare and ours).
async function measureStartup(
  variant: Variant,
  sink: OtlpSink,
  mode: 'warm' | 'cold' | 'nodeCache'
): Promise<void> {
  const extra: Record<string, string> =
    mode === 'cold'
      ? { OTEL_FORKSAFE_CODE_CACHE: 'false' }
      : mode === 'nodeCache'
        ? {
            OTEL_FORKSAFE_CODE_CACHE: 'false',
            NODE_COMPILE_CACHE: NODE_COMPILE_CACHE,
          }
        : {};
  await withCluster(
    `${variant} ${mode} startup run`,
    variant,
    {
      workers: 1,
      env: envFor(variant, sink, 'grpc', extra),
      timeoutMs: 60_000,
    },
    (_app, ready) => {
      for (const w of ready.workers) {
        if (mode === 'nodeCache') {
          record(
            'worker.cpuToListenMs.nodeCompileCache',
            variant,
            w.cpuToListenMs
          );
          continue;
        }
        // Bare and upstream have no code cache: their starts count in the cold row too.
        if (mode === 'cold' || variant === 'bare' || variant === 'upstream')
          record('worker.cpuToListenMs.noCache', variant, w.cpuToListenMs);
        if (mode === 'cold') continue;
        record('worker.spawnToListenMs', variant, w.spawnToListenMs);
        record('worker.cpuToListenMs', variant, w.cpuToListenMs);
        record('worker.rssAtListenMB', variant, w.rssAtListen / MB);
      }
      return Promise.resolve();
    }
  );
}

/** Fills our code cache and Node's compile cache, so that measured starts are warm ones. */
async function warmCaches(sink: OtlpSink): Promise<void> {
  rmSync(CODE_CACHE, { recursive: true, force: true });
  rmSync(`${CODE_CACHE}-previous`, { recursive: true, force: true });
  rmSync(NODE_COMPILE_CACHE, { recursive: true, force: true });
  const written = (): number => {
    try {
      return readdirSync(CODE_CACHE).filter(f => f.endsWith('.v8cache')).length;
    } catch {
      return 0;
    }
  };
  await withCluster(
    'code cache warm-up',
    'forksafe',
    { workers: 1, env: envFor('forksafe', sink, 'grpc'), timeoutMs: 30_000 },
    async (_app, ready) => {
      await hammer(ready.port, 50, '/');
      for (const end = Date.now() + 10_000; written() < 2; await sleep(100))
        if (Date.now() > end) throw new Error('no code cache after 10 s');
    }
  );
  // The previous release's cache: one run that serves requests (it writes when it has time).
  if (PREVIOUS !== undefined)
    await withCluster(
      'previous release warm-up',
      'previous',
      {
        workers: 1,
        env: envFor('previous', sink, 'grpc'),
        timeoutMs: 30_000,
      },
      async (_app, ready) => {
        await hammer(ready.port, 50, '/');
        await sleep(2000);
      }
    );
  for (const variant of ['bare', 'forksafe'] as const)
    await measureStartup(variant, sink, 'nodeCache');
  delete samples['worker.cpuToListenMs.nodeCompileCache'];
}

// A 2-worker cluster under sustained load (autocannon, keep-alive) until each worker has
// answered STEADY_REQUESTS: requests per second, the workers' CPU time per request (the same
// work, far less disturbed by the load generator sharing the machine) and then each worker's
// RSS and live heap.
async function measureThroughput(
  variant: Variant,
  sink: OtlpSink
): Promise<void> {
  await withCluster(
    `${variant} throughput run`,
    variant,
    { workers: 2, env: envFor(variant, sink, 'grpc'), timeoutMs: 180_000 },
    async (app, ready) => {
      // A short warm-up so JIT and connection setup are not counted.
      await hammer(ready.port, 200, '/');
      const workersCpu = async (): Promise<number> => {
        const { workers } = (await ask(app, 'cpu', 'CPU ')) as {
          workers: number[];
        };
        return workers.reduce((a, b) => a + b, 0);
      };
      const cpuBefore = await workersCpu();
      const result = await autocannon({
        url: `http://127.0.0.1:${ready.port}/`,
        connections: 10,
        amount: STEADY_REQUESTS * 2,
      });
      if (result.non2xx > 0 || result.errors > 0)
        throw new Error(
          `${result.non2xx} non-2xx responses, ${result.errors} errors`
        );
      // Dev note: answered requests over the run's time, not autocannon's requests.average (a
      // mean of whole per-second counts: at ~2,000 rps over ~20 s it moves in steps of ~5%).
      record(
        'throughput.rps',
        variant,
        result.requests.total / result.duration
      );
      record(
        'throughput.cpuUsPerRequest',
        variant,
        ((await workersCpu()) - cpuBefore) / result.requests.total
      );
      const rss = (await ask(app, 'rss', 'RSS ')) as RssLine;
      for (const r of rss.workers)
        record('worker.rssSteadyMB', variant, r / MB);
      for (const h of rss.heapUsed)
        record('worker.heapUsedSteadyMB', variant, h / MB);
    }
  );
}

// CPU time of a process making SPANS spans and exporting them all, scaled to 10,000 spans.
// Dev note: measured on a second batch, once a first one (as large) has been exported: the
// first batch's spans are what fills a fresh heap, and a process that started lean (ours) meets
// its first full garbage collection inside the window, while upstream's had met it during its
// start-up. The second batch measures what exporting costs a running server.
async function measureExport(
  variant: Variant,
  sink: OtlpSink,
  protocol: 'grpc' | 'http/protobuf'
): Promise<void> {
  sink.clear();
  const app = startNode(join(ROOT, 'bench', 'fixtures', 'span-export.cjs'), {
    command: NODE,
    nodeArgs: PRELOAD[variant],
    args: [String(SPANS)],
    env: envFor(variant, sink, protocol, {
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BSP_MAX_QUEUE_SIZE: String(SPANS * 2),
    }),
    timeoutMs: 60_000,
  });
  try {
    await app.waitForLine('READY', 30_000);
    app.send('warm');
    await sink.waitFor(
      () => sink.spans().filter(s => s.name === 'warm-batch').length >= SPANS,
      { timeoutMs: 30_000, what: `${SPANS} warm-up spans from ${variant}` }
    );
    app.send('go');
    await sink.waitFor(
      () => sink.spans().filter(s => s.name === 'bench-span').length >= SPANS,
      { timeoutMs: 30_000, what: `${SPANS} spans from ${variant}` }
    );
    const { micros } = (await ask(app, 'cpu', 'CPU ')) as { micros: number };
    record(
      `export.${protocol === 'grpc' ? 'grpc' : 'http'}.cpuMsPer10k`,
      variant,
      (micros / 1000) * (10_000 / SPANS)
    );
    app.send('stop');
    await app.exited;
  } catch (err) {
    app.kill();
    throw new Error(
      `${variant} ${protocol} export run failed: ${app.repro}\n${app.stderr}`,
      { cause: err }
    );
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const sink = await startOtlpSink();
  try {
    await warmCaches(sink);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no variant always runs first (or after a warm cache).
      const order = COMPARED.map(
        (_, i) => COMPARED[(i + round) % COMPARED.length]!
      );
      process.stderr.write(
        `round ${round + 1}/${ROUNDS}: ${order.join(', ')}\n`
      );
      if (ONLY.has('shapes'))
        for (const shape of Object.keys(SHAPES) as Shape[])
          for (const v of order) await measureShape(shape, v, sink);
      if (ONLY.has('startup')) {
        // Starts are short and the noisiest figures: several, interleaved, per round.
        for (let k = 0; k < STARTS_PER_ROUND; k++) {
          for (const v of order) await measureStartup(v, sink, 'warm');
          await measureStartup('forksafe', sink, 'cold');
          await measureStartup('bare', sink, 'nodeCache');
          await measureStartup('forksafe', sink, 'nodeCache');
        }
      }
      if (ONLY.has('throughput'))
        for (const v of order) await measureThroughput(v, sink);
      if (ONLY.has('export'))
        for (const v of order) {
          if (v === 'bare' || v === 'previous') continue;
          await measureExport(v, sink, 'grpc');
          await measureExport(v, sink, 'http/protobuf');
        }
    }
    // A one-line script, bare and ours, against a collector up, refusing and black-holed
    // (bench/short-lived.ts): runs of the two alternate, so load falls on both alike.
    if (ONLY.has('short-lived'))
      for (const row of await benchShortLived({
        runs: SHORT_LIVED_RUNS,
        node: NODE,
      })) {
        for (const ms of row.samples)
          record(`shortLived.${row.collector}.wallMs`, row.variant, ms);
        if (row.variant === 'forksafe')
          shortLivedNotes[row.collector] =
            `${row.stderrLines} stderr lines, ${row.exports} exports`;
      }
  } finally {
    killAll();
    await sink.stop();
  }
  const { table, json } = report(rows(STEADY_REQUESTS, shortLivedNotes));
  const node = execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();
  const meta = {
    date: new Date().toISOString(),
    node,
    cpus: availableParallelism(),
    mode: SHORT ? 'short' : 'full',
    rounds: ROUNDS,
    steadyRequestsPerWorker: STEADY_REQUESTS,
    spansPerExportRun: SPANS,
    startsPerRound: STARTS_PER_ROUND,
    ...(flags.env === undefined ? {} : { env: EXTRA_ENV }),
    ...(PREVIOUS === undefined ? {} : { previous: describePrevious(PREVIOUS) }),
    upstreamEnv: UPSTREAM_ENV,
    codeCache:
      "ours warm (filled by a warm-up run); 'without code cache': OTEL_FORKSAFE_CODE_CACHE=false; Node's compile cache: NODE_COMPILE_CACHE (warm) and ours off",
    seconds: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ meta, rows: json }, null, 2)}\n`);
  process.stdout.write(
    `\n${table}\n\nmedian (min–max) over ${ROUNDS} round(s); node ${node}, ${meta.cpus} CPUs, ${meta.seconds} s; written to ${OUT}\n`
  );
}

/** The previous release's checkout and commit, for the results' meta. */
function describePrevious(dir: string): string {
  try {
    const commit = execFileSync(
      'git',
      ['-C', dir, 'log', '-1', '--format=%h %cs'],
      {
        encoding: 'utf8',
      }
    ).trim();
    return `${dir} (${commit})`;
  } catch {
    return dir;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exitCode = 1;
});
