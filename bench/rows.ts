// The benchmark's table: one row per measure, each with how to read it and, where the issue
// tracker set one, the target it is checked against. Reads the samples of bench/stats.ts.
import {
  ALL_VARIANTS,
  samples,
  stat,
  type Stat,
  type Variant,
} from './stats.ts';

type Stats = Partial<Record<Variant, Stat>>;

/** One row: the metric, its label and unit, and the note (with a target check) it gets. */
export interface Row {
  metric: string;
  label: string;
  unit: string;
  ratio: (s: Stats) => { text: string; ok?: boolean };
}

const overhead = (s: Stats): { ours: number; theirs: number } | undefined => {
  const { bare, upstream, forksafe } = s;
  if (!bare || !upstream || !forksafe) return undefined;
  return {
    ours: forksafe.median - bare.median,
    theirs: upstream.median - bare.median,
  };
};

/** Our overhead over bare as a share of the upstream register's, with an optional maximum. */
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

/** Our median over the upstream register's, with an optional minimum. */
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

/** Our median minus bare's, with an optional maximum. */
function versusBare(unit: string, target?: number): Row['ratio'] {
  return s => {
    if (!s.bare || !s.forksafe) return { text: '' };
    const d = s.forksafe.median - s.bare.median;
    const text = `ours ${d >= 0 ? '+' : ''}${d.toFixed(1)} ${unit} vs bare`;
    return target === undefined
      ? { text }
      : { text: `${text} (target <= ${target})`, ok: d <= target };
  };
}

/** The app shapes whose primary is measured (bench/fixtures). */
export const SHAPES = {
  'fork-first': 'cluster-server.cjs',
  'express-top': 'express-top.cjs',
  'esm-db': 'esm-db.mjs',
  'late-fork': 'late-fork.cjs',
} as const;
export type Shape = keyof typeof SHAPES;

function primaryRows(shape: Shape): Row[] {
  return [
    {
      metric: `primary.${shape}.firstForkMs`,
      label: `primary (${shape}): start to first fork`,
      unit: 'ms',
      ratio: versusBare('ms', 30),
    },
    {
      metric: `primary.${shape}.rssAtForkMB`,
      label: `primary (${shape}): RSS at first fork`,
      unit: 'MB',
      ratio: versusBare('MB', 5),
    },
    {
      metric: `primary.${shape}.rssListeningMB`,
      label: `primary (${shape}): RSS, workers listening`,
      unit: 'MB',
      ratio: versusBare('MB', 5),
    },
    {
      metric: `primary.${shape}.rssReplacedMB`,
      label: `primary (${shape}): RSS after replacing the workers`,
      unit: 'MB',
      ratio: versusBare('MB', 5),
    },
  ];
}

/**
 * Every row, given the steady-state request count (for its label) and what the one-line
 * script printed and sent per collector mode.
 */
export function rows(
  steadyRequests: number,
  shortLivedNotes: Readonly<Record<string, string>> = {}
): Row[] {
  return [
    ...(Object.keys(SHAPES) as Shape[]).flatMap(primaryRows),
    {
      metric: 'worker.spawnToListenMs',
      label: 'worker: spawn to listening',
      unit: 'ms',
      ratio: versusUpstream(0.15),
    },
    {
      // Not a target: CPU time is less disturbed than wall time by other load.
      metric: 'worker.cpuToListenMs',
      label: 'worker: CPU time to listening',
      unit: 'ms',
      ratio: versusUpstream(),
    },
    {
      // Not targets: ours on a cold start (no code cache: a new version's first start, or
      // OTEL_FORKSAFE_CODE_CACHE=false). Bare and upstream: the same starts as above.
      metric: 'worker.cpuToListenMs.noCache',
      label: 'worker: CPU time to listening, ours without code cache',
      unit: 'ms',
      ratio: versusUpstream(),
    },
    {
      // Not a target: Node's own compile cache (NODE_COMPILE_CACHE) for the whole process,
      // bare and ours alike, in place of our code cache of our two bundles.
      metric: 'worker.cpuToListenMs.nodeCompileCache',
      label: "worker: CPU time to listening, Node's compile cache (both)",
      unit: 'ms',
      ratio: versusBare('ms'),
    },
    {
      metric: 'worker.rssAtListenMB',
      label: 'worker: RSS at listening',
      unit: 'MB',
      ratio: versusUpstream(0.35),
    },
    {
      metric: 'worker.rssSteadyMB',
      label: `worker: RSS at steady state (after ${steadyRequests} requests each)`,
      unit: 'MB',
      ratio: versusUpstream(0.3),
    },
    {
      // Not a target: what is live in V8's heap after a full GC, at steady state.
      metric: 'worker.heapUsedSteadyMB',
      label: 'worker: live V8 heap at steady state',
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
      metric: 'throughput.cpuUsPerRequest',
      label: 'worker CPU per request',
      unit: 'µs',
      ratio: versusUpstream(0.8),
    },
    ...(['up', 'refused', 'black-holed'] as const).map((collector): Row => ({
      metric: `shortLived.${collector}.wallMs`,
      label: `one-line script, collector ${collector}`,
      unit: 'ms',
      ratio: s => {
        const { text, ok } = versusBare('ms', 30)(s);
        const note = shortLivedNotes[collector];
        return {
          text: note ? `${text}; ours: ${note}` : text,
          ...(ok === undefined ? {} : { ok }),
        };
      },
    })),
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
}

const fmt = (x: number, unit: string): string =>
  unit === 'rps' ? x.toFixed(0) : x.toFixed(1);

function cell(s: Stat | undefined, unit: string): string {
  if (!s) return '-';
  return `${fmt(s.median, unit)} (${fmt(s.min, unit)}–${fmt(s.max, unit)})`;
}

/**
 * The markdown table and the JSON rows of everything recorded (rows with no sample left out).
 * With `--previous`, the earlier release's column too, and its figure read the way the row
 * reads ours (the row's own ratio, computed with the previous release in our place).
 */
export function report(all: readonly Row[]): { table: string; json: object[] } {
  const withPrevious = all.some(row => samples[row.metric]?.previous);
  const lines = withPrevious
    ? [
        '| measure | unit | bare | upstream | otel-forksafe | previous release | ratio | previous release, same ratio |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ]
    : [
        '| measure | unit | bare | upstream | otel-forksafe | ratio |',
        '| --- | --- | --- | --- | --- | --- |',
      ];
  const json: object[] = [];
  for (const row of all) {
    const raw = samples[row.metric];
    if (!raw) continue;
    const stats: Stats = {};
    for (const v of ALL_VARIANTS) {
      const st = stat(raw[v]);
      if (st) stats[v] = st;
    }
    const { text, ok } = row.ratio(stats);
    const mark = ok === undefined ? '' : ok ? ' ✓' : ' ✗';
    const cells = [
      row.label,
      row.unit,
      cell(stats.bare, row.unit),
      cell(stats.upstream, row.unit),
      cell(stats.forksafe, row.unit),
    ];
    let previousText: string | undefined;
    if (withPrevious) {
      const { previous, ...others } = stats;
      previousText = previous
        ? row
            .ratio({ ...others, forksafe: previous })
            .text.replace(/\bours\b/g, 'previous')
        : '';
      cells.push(cell(previous, row.unit), `${text}${mark}`, previousText);
    } else cells.push(`${text}${mark}`);
    lines.push(`| ${cells.join(' | ')} |`);
    json.push({
      metric: row.metric,
      unit: row.unit,
      ...stats,
      ratio: text,
      ...(ok === undefined ? {} : { targetMet: ok }),
      ...(previousText ? { previousRatio: previousText } : {}),
      samples: raw,
    });
  }
  return { table: lines.join('\n'), json };
}
