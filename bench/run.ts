// `npm run bench [-- --short] [-- --rounds N]`: measures bare node, the upstream register
// (@opentelemetry/auto-instrumentations-node/register) and otel-forksafe in one run, rounds
// alternating the three, and prints medians (with min and max) and ratios; also writes
// bench/results.json. Never part of the test suite: CI may run `--short` to prove it works.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startOtlpSink, type OtlpSink } from '../test/helpers/otlp-sink.ts';
import {
  hammer,
  killAll,
  ROOT,
  startNode,
  type RunningNode,
} from '../test/helpers/run-node.ts';

const { values: flags } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'throughput-seconds': { type: 'string' },
    spans: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
  },
});
// `--only startup,throughput,export` runs a subset (while working on one number).
const ONLY = new Set(
  (flags.only ?? 'startup,throughput,export').split(',').map(s => s.trim())
);
const SHORT = flags.short === true;
const ROUNDS = Number(flags.rounds ?? (SHORT ? 1 : 5));
const THROUGHPUT_SECONDS = Number(
  flags['throughput-seconds'] ?? (SHORT ? 1 : 8)
);
// CPU is reported per 10,000 spans whatever the count made.
const SPANS = Number(flags.spans ?? (SHORT ? 2000 : 10000));
const REQUESTS = SHORT ? 200 : 1000;
// Process starts measured per variant and round (one of them followed by REQUESTS requests).
const STARTS_PER_ROUND = SHORT ? 1 : 4;
// A short run proves the bench works; it does not replace the committed figures.
const OUT =
  flags.out ??
  (SHORT
    ? join(ROOT, '.tmp', 'bench-short.json')
    : join(ROOT, 'bench', 'results.json'));

// Our V8 code cache (src/code-cache.ts) lives here during a run: emptied at the start, filled
// by a warm-up run, so every measured start of ours is a warm one, as in a service that has
// started before. Cold starts (no cache) are measured too, in rows of their own.
const CODE_CACHE = join(ROOT, '.tmp', 'bench-code-cache');

type Variant = 'bare' | 'upstream' | 'forksafe';
const VARIANTS: readonly Variant[] = ['bare', 'upstream', 'forksafe'];

const PRELOAD: Record<Variant, string[]> = {
  bare: [],
  upstream: ['--require', '@opentelemetry/auto-instrumentations-node/register'],
  forksafe: ['--import', 'otel-forksafe/register'],
};

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
  // run-node's base env turns metrics and logs off; the benchmark keeps every default.
  env.OTEL_METRICS_EXPORTER = undefined;
  env.OTEL_LOGS_EXPORTER = undefined;
  if (variant === 'bare') return env;
  Object.assign(env, {
    OTEL_FORKSAFE_CODE_CACHE: CODE_CACHE,
    OTEL_SERVICE_NAME: 'bench',
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_EXPORTER_OTLP_ENDPOINT:
      protocol === 'grpc' ? sink.grpcEndpoint : sink.httpEndpoint,
    ...(variant === 'upstream' ? UPSTREAM_ENV : {}),
    ...extra,
  });
  return env;
}

interface Samples {
  [metric: string]: Partial<Record<Variant, number[]>>;
}
const samples: Samples = {};
function record(metric: string, variant: Variant, value: number): void {
  const m = (samples[metric] ??= {});
  (m[variant] ??= []).push(value);
}

const MB = 1024 * 1024;

interface ReadyLine {
  port: number;
  firstForkMs: number;
  primaryRssAtFork: number;
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

/**
 * The benchmark cluster app with `workers` workers under `variant`: `work` runs once all listen,
 * then the cluster is stopped. A failure kills it and names what failed, with a repro line.
 */
async function withCluster(
  what: string,
  variant: Variant,
  options: {
    workers: number;
    env: Record<string, string | undefined>;
    timeoutMs: number;
  },
  work: (app: RunningNode, ready: ReadyLine) => Promise<void>
): Promise<void> {
  const app = startNode(join(ROOT, 'bench', 'fixtures', 'cluster-server.cjs'), {
    nodeArgs: PRELOAD[variant],
    args: [String(options.workers)],
    env: options.env,
    timeoutMs: options.timeoutMs,
  });
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

// Primary start-to-first-fork and RSS; worker spawn-to-listening and RSS after REQUESTS requests.
// `full`: the start, then REQUESTS requests and every process's RSS. `start`: the start only
// (more samples of the noisiest rows). `cold`: ours without the code cache, start only,
// recorded in rows of its own (bare and upstream have no cache: their starts are recorded in
// those rows too).
async function measureStartup(
  variant: Variant,
  sink: OtlpSink,
  mode: 'full' | 'start' | 'cold' = 'full'
): Promise<void> {
  const env = envFor(
    variant,
    sink,
    'grpc',
    mode === 'cold' ? { OTEL_FORKSAFE_CODE_CACHE: 'false' } : {}
  );
  await withCluster(
    `${variant} startup run`,
    variant,
    { workers: 1, env, timeoutMs: 60_000 },
    async (app, ready) => {
      const startRows = (suffix: string): void => {
        for (const w of ready.workers) {
          record(`worker.spawnToListenMs${suffix}`, variant, w.spawnToListenMs);
          record(`worker.cpuToListenMs${suffix}`, variant, w.cpuToListenMs);
        }
      };
      if (mode === 'cold') {
        startRows('.noCache');
        return;
      }
      if (variant !== 'forksafe') startRows('.noCache');
      startRows('');
      record('primary.firstForkMs', variant, ready.firstForkMs);
      if (mode === 'start') return;
      await hammer(ready.port, REQUESTS, '/');
      app.send('rss');
      const rss = JSON.parse(await app.waitForLine('RSS ', 10_000)) as RssLine;
      record('primary.rssMB', variant, rss.primary / MB);
      for (const w of ready.workers)
        record('worker.rssAtListenMB', variant, w.rssAtListen / MB);
      for (const r of rss.workers) record('worker.rssMB', variant, r / MB);
      for (const h of rss.heapUsed)
        record('worker.heapUsedMB', variant, h / MB);
    }
  );
}

/** One run of ours that lives until the code cache of both bundles is written. */
async function warmCodeCache(sink: OtlpSink): Promise<void> {
  rmSync(CODE_CACHE, { recursive: true, force: true });
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
}

// Requests per second through a 2-worker cluster, exporting to the sink.
async function measureThroughput(
  variant: Variant,
  sink: OtlpSink
): Promise<void> {
  await withCluster(
    `${variant} throughput run`,
    variant,
    {
      workers: 2,
      env: envFor(variant, sink, 'grpc'),
      timeoutMs: 60_000 + THROUGHPUT_SECONDS * 1000,
    },
    async (app, ready) => {
      // A short warm-up so JIT and connection setup are not counted.
      await hammer(ready.port, 200, '/');
      const workersCpu = async (): Promise<number> => {
        app.stdout = ''; // waitForLine returns the first matching line: forget the last one
        app.send('cpu');
        const { workers } = JSON.parse(
          await app.waitForLine('CPU ', 10_000)
        ) as { workers: number[] };
        return workers.reduce((a, b) => a + b, 0);
      };
      const cpuBefore = await workersCpu();
      const result = await autocannon({
        url: `http://127.0.0.1:${ready.port}/`,
        connections: 10,
        duration: THROUGHPUT_SECONDS,
      });
      if (result.non2xx > 0 || result.errors > 0)
        throw new Error(
          `${result.non2xx} non-2xx responses, ${result.errors} errors`
        );
      record('throughput.rps', variant, result.requests.average);
      // The workers' CPU time per answered request: the same work as requests per second, but
      // far less disturbed by the load generator and the receiver sharing the machine.
      record(
        'throughput.cpuUsPerRequest',
        variant,
        ((await workersCpu()) - cpuBefore) / result.requests.total
      );
    }
  );
}

// CPU time of a process making SPANS spans and exporting them all, scaled to 10,000 spans.
async function measureExport(
  variant: Variant,
  sink: OtlpSink,
  protocol: 'grpc' | 'http/protobuf'
): Promise<void> {
  sink.clear();
  const app = startNode(join(ROOT, 'bench', 'fixtures', 'span-export.cjs'), {
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
    app.send('go');
    await sink.waitFor(
      () => sink.spans().filter(s => s.name === 'bench-span').length >= SPANS,
      { timeoutMs: 30_000, what: `${SPANS} spans from ${variant}` }
    );
    app.send('cpu');
    const { micros } = JSON.parse(await app.waitForLine('CPU ', 10_000)) as {
      micros: number;
    };
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

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}
function stat(xs: readonly number[] | undefined): Stat | undefined {
  if (!xs || xs.length === 0) return undefined;
  return {
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    n: xs.length,
  };
}

// Each row: the metric, how to read it, and the target it is checked against.
/** A row's note: our overhead over bare as a share of the upstream register's, and a target. */
function versusUpstream(target?: number): Row['ratio'] {
  return s => {
    const o = overhead(s);
    if (!o) return { text: '' };
    const r = o.ours / o.theirs;
    const text = `overhead ours/upstream ${(r * 100).toFixed(0)}%`;
    return target === undefined
      ? { text }
      : { text: `${text} (target <= ${target * 100}%)`, ok: r <= target };
  };
}

/** A row's note: our median over the upstream register's, and a minimum when it is a target. */
function oursOverUpstream(minimum?: number): Row['ratio'] {
  return s => {
    if (!s.upstream || !s.forksafe) return { text: '' };
    const r = s.forksafe.median / s.upstream.median;
    const text = `ours/upstream ${r.toFixed(2)}`;
    return minimum === undefined
      ? { text }
      : { text: `${text} (target >= ${minimum})`, ok: r >= minimum };
  };
}

interface Row {
  metric: string;
  label: string;
  unit: string;
  ratio: (s: Partial<Record<Variant, Stat>>) => { text: string; ok?: boolean };
}

const fmt = (x: number, unit: string): string =>
  unit === 'rps' ? x.toFixed(0) : x.toFixed(1);

const overhead = (
  s: Partial<Record<Variant, Stat>>
): { ours: number; theirs: number } | undefined => {
  const { bare, upstream, forksafe } = s;
  if (!bare || !upstream || !forksafe) return undefined;
  return {
    ours: forksafe.median - bare.median,
    theirs: upstream.median - bare.median,
  };
};

const ROWS: Row[] = [
  {
    metric: 'primary.firstForkMs',
    label: 'primary: start to first fork',
    unit: 'ms',
    ratio: s => {
      const o = overhead(s);
      if (!o) return { text: '' };
      return {
        text: `ours +${o.ours.toFixed(1)} ms vs bare (target <= 30)`,
        ok: o.ours <= 30,
      };
    },
  },
  {
    metric: 'primary.rssMB',
    label: 'primary: RSS',
    unit: 'MB',
    ratio: s => {
      const o = overhead(s);
      if (!o) return { text: '' };
      return {
        text: `ours +${o.ours.toFixed(1)} MB vs bare (target <= 5)`,
        ok: o.ours <= 5,
      };
    },
  },
  {
    metric: 'worker.spawnToListenMs',
    label: 'worker: spawn to listening',
    unit: 'ms',
    ratio: versusUpstream(0.25),
  },
  {
    // Not a target: CPU time is less disturbed than wall time by other load on the machine.
    metric: 'worker.cpuToListenMs',
    label: 'worker: CPU time to listening',
    unit: 'ms',
    ratio: versusUpstream(),
  },
  {
    // Not targets: ours on a cold start (no code cache: a new version's first start, or
    // OTEL_FORKSAFE_CODE_CACHE=false). Bare and upstream: the same starts as above.
    metric: 'worker.spawnToListenMs.noCache',
    label: 'worker: spawn to listening, no code cache',
    unit: 'ms',
    ratio: versusUpstream(),
  },
  {
    metric: 'worker.cpuToListenMs.noCache',
    label: 'worker: CPU time to listening, no code cache',
    unit: 'ms',
    ratio: versusUpstream(),
  },
  {
    metric: 'worker.rssMB',
    label: `worker: RSS after ${REQUESTS} requests`,
    unit: 'MB',
    ratio: versusUpstream(0.5),
  },
  {
    // Not targets: where the RSS overhead comes from. At listening, the code each variant
    // loads; after the requests, what is live in V8's heap after a full GC (taken after the
    // RSS). Most of the rest of the RSS is heap V8 has grown and not yet given back, which
    // follows how much each request allocates, not what is kept.
    metric: 'worker.rssAtListenMB',
    label: 'worker: RSS at listening',
    unit: 'MB',
    ratio: versusUpstream(),
  },
  {
    metric: 'worker.heapUsedMB',
    label: `worker: live V8 heap after ${REQUESTS} requests`,
    unit: 'MB',
    ratio: versusUpstream(),
  },
  {
    metric: 'throughput.rps',
    label: 'throughput, 2 workers',
    unit: 'rps',
    ratio: oursOverUpstream(1),
  },
  {
    // Not a target: the steadier view of the same work.
    metric: 'throughput.cpuUsPerRequest',
    label: 'worker CPU per request, throughput run',
    unit: 'µs',
    ratio: oursOverUpstream(),
  },
  {
    metric: 'export.grpc.cpuMsPer10k',
    label: 'CPU per 10k spans, gRPC',
    unit: 'ms',
    ratio: oursOverUpstream(),
  },
  {
    metric: 'export.http.cpuMsPer10k',
    label: 'CPU per 10k spans, HTTP',
    unit: 'ms',
    ratio: oursOverUpstream(),
  },
];

function cell(s: Stat | undefined, unit: string): string {
  if (!s) return '-';
  return `${fmt(s.median, unit)} (${fmt(s.min, unit)}–${fmt(s.max, unit)})`;
}

function report(): { table: string; rows: object[] } {
  const header = `| measure | unit | bare | upstream | otel-forksafe | ratio |`;
  const lines = [header, '| --- | --- | --- | --- | --- | --- |'];
  const rows: object[] = [];
  for (const row of ROWS) {
    const raw = samples[row.metric] ?? {};
    const stats: Partial<Record<Variant, Stat>> = {};
    for (const v of VARIANTS) {
      const st = stat(raw[v]);
      if (st) stats[v] = st;
    }
    const { text, ok } = row.ratio(stats);
    const mark = ok === undefined ? '' : ok ? ' ✓' : ' ✗';
    lines.push(
      `| ${row.label} | ${row.unit} | ${cell(stats.bare, row.unit)} | ${cell(stats.upstream, row.unit)} | ${cell(stats.forksafe, row.unit)} | ${text}${mark} |`
    );
    rows.push({
      metric: row.metric,
      unit: row.unit,
      ...stats,
      ratio: text,
      ...(ok === undefined ? {} : { targetMet: ok }),
      samples: raw,
    });
  }
  return { table: lines.join('\n'), rows };
}

async function main(): Promise<void> {
  const started = Date.now();
  const sink = await startOtlpSink();
  try {
    if (ONLY.has('startup') || ONLY.has('throughput'))
      await warmCodeCache(sink);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no variant always runs first (or after a warm cache).
      const order = VARIANTS.map(
        (_, i) => VARIANTS[(i + round) % VARIANTS.length]!
      );
      process.stderr.write(
        `round ${round + 1}/${ROUNDS}: ${order.join(', ')}\n`
      );
      if (ONLY.has('startup')) {
        for (const v of order) await measureStartup(v, sink);
        await measureStartup('forksafe', sink, 'cold');
        // Starts are short and the noisiest figures: more of them, interleaved, per round.
        for (let k = 1; k < STARTS_PER_ROUND; k++) {
          for (const v of order) await measureStartup(v, sink, 'start');
          await measureStartup('forksafe', sink, 'cold');
        }
      }
      if (ONLY.has('throughput'))
        for (const v of order) await measureThroughput(v, sink);
      for (const v of order) {
        if (v === 'bare' || !ONLY.has('export')) continue;
        await measureExport(v, sink, 'grpc');
        await measureExport(v, sink, 'http/protobuf');
      }
    }
  } finally {
    killAll();
    await sink.stop();
  }
  const { table, rows } = report();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    mode: SHORT ? 'short' : 'full',
    rounds: ROUNDS,
    throughputSeconds: THROUGHPUT_SECONDS,
    spansPerExportRun: SPANS,
    requestsBeforeWorkerRss: REQUESTS,
    startsPerRound: STARTS_PER_ROUND,
    upstreamEnv: UPSTREAM_ENV,
    codeCache:
      'warm (filled by a warm-up run); the noCache rows: ours with OTEL_FORKSAFE_CODE_CACHE=false',
    seconds: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ meta, rows }, null, 2)}\n`);
  process.stdout.write(
    `\n${table}\n\nmedian (min–max) over ${ROUNDS} round(s); node ${meta.node}, ${meta.cpus} CPUs, ${meta.seconds} s; written to ${OUT}\n`
  );
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exitCode = 1;
});
