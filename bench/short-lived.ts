// Bench row "one-line script": the wall time of `node one-line.cjs` bare and with the preload in
// NODE_OPTIONS (`--import otel-forksafe/register`, as a CI runner or a CLI gets it), 20 runs
// each, against a collector that is up, one that refuses connections, and one that accepts
// and never answers. bench/run.ts calls benchShortLived(); alone:
// `npm run build && node --import tsx bench/short-lived.ts [--runs N]`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startOtlpSink, type OtlpSink } from '../test/helpers/otlp-sink.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What the collector does. */
export type CollectorMode = 'up' | 'refused' | 'black-holed';

/** One row: one variant against one collector. */
export interface ShortLivedRow {
  readonly collector: CollectorMode;
  readonly variant: 'bare' | 'forksafe';
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** stderr lines over all runs (the script itself writes none). */
  readonly stderrLines: number;
  /** Export requests the collector decoded over all runs ('up' only). */
  readonly exports: number;
  /** Every run's wall time, ms. */
  readonly samples: readonly number[];
}

/** Options of benchShortLived. */
export interface ShortLivedOptions {
  /** Runs per variant and collector; default 20. */
  readonly runs?: number;
  /** The node binary; default the one running this. */
  readonly node?: string;
}

interface Timed {
  readonly ms: number;
  readonly stderr: string;
}

function runOnce(
  node: string,
  script: string,
  env: Record<string, string>
): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(node, [script], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('error', reject);
    child.on('close', code => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new Error(`exit ${code}: ${stderr}`));
      else resolve({ ms, stderr });
    });
  });
}

/** A loopback port that refuses connections (bound, then closed). */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise(r => server.close(r));
  return port;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function envFor(endpoint: string, preload: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('OTEL_') && k !== 'NODE_OPTIONS')
      env[k] = v;
  env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
  if (preload) env.NODE_OPTIONS = '--import otel-forksafe/register';
  return env;
}

/**
 * Measures the one-line script (bare and with the preload) against each collector mode.
 * Variants alternate run by run, so load on the machine falls on both alike. Needs `dist/`.
 */
export async function benchShortLived(
  options: ShortLivedOptions = {}
): Promise<ShortLivedRow[]> {
  const runs = options.runs ?? 20;
  const node = options.node ?? process.execPath;
  const dir = mkdtempSync(join(tmpdir(), 'forksafe-short-'));
  const script = join(dir, 'one-line.cjs');
  writeFileSync(script, "console.log('hello');\n");
  const rows: ShortLivedRow[] = [];
  try {
    for (const collector of ['up', 'refused', 'black-holed'] as const) {
      let sink: OtlpSink | undefined;
      let endpoint: string;
      if (collector === 'refused')
        endpoint = `http://127.0.0.1:${await refusedPort()}`;
      else {
        sink = await startOtlpSink({ blackHole: collector === 'black-holed' });
        endpoint = sink.grpcEndpoint;
      }
      try {
        const times = { bare: [] as number[], forksafe: [] as number[] };
        const lines = { bare: 0, forksafe: 0 };
        // One warm-up each (file system cache, code cache).
        await runOnce(node, script, envFor(endpoint, false));
        await runOnce(node, script, envFor(endpoint, true));
        sink?.clear();
        for (let i = 0; i < runs; i++) {
          for (const variant of ['bare', 'forksafe'] as const) {
            const r = await runOnce(
              node,
              script,
              envFor(endpoint, variant === 'forksafe')
            );
            times[variant].push(r.ms);
            lines[variant] += r.stderr.split('\n').filter(Boolean).length;
          }
        }
        const exports =
          collector === 'up' && sink
            ? sink.requests.traces + sink.requests.metrics + sink.requests.logs
            : 0;
        for (const variant of ['bare', 'forksafe'] as const) {
          const xs = times[variant];
          rows.push({
            collector,
            variant,
            medianMs: median(xs),
            minMs: Math.min(...xs),
            maxMs: Math.max(...xs),
            stderrLines: lines[variant],
            exports: variant === 'forksafe' ? exports : 0,
            samples: xs,
          });
        }
      } finally {
        await sink?.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** The rows as a Markdown table. */
export function formatShortLived(rows: readonly ShortLivedRow[]): string {
  const out = [
    '| collector | variant | median ms | min ms | max ms | stderr lines | exports |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows)
    out.push(
      `| ${r.collector} | ${r.variant} | ${r.medianMs.toFixed(1)} | ${r.minMs.toFixed(1)} | ${r.maxMs.toFixed(1)} | ${r.stderrLines} | ${r.exports} |`
    );
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const rows = await benchShortLived({
    runs: values.runs === undefined ? 20 : Number(values.runs),
  });
  process.stdout.write(`${formatShortLived(rows)}\n`);
}
