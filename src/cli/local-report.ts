// What `otel-launch --local` shows: per-process rows built from the resources that exported,
// the compact live line, and the closing table. Pure; the receiver feeds it counts.
import type { ResourceCounts } from '../otlp/codec.ts';

/** One exporting process, as the closing table shows it. */
export interface ProcessRow {
  /** `worker` (a cluster worker: its resource has a slot) or `standalone`. */
  readonly role: 'worker' | 'standalone';
  readonly pid: number | undefined;
  readonly instanceId: string;
  readonly serviceName: string;
  readonly slot: number | undefined;
  spans: number;
  metricPoints: number;
  logRecords: number;
}

const text = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '-';
const int = (v: unknown): number | undefined => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
};

/** Adds counts to the rows, one row per (process.pid, service.instance.id). */
export class ProcessTally {
  private readonly byKey = new Map<string, ProcessRow>();

  add(counts: readonly ResourceCounts[]): void {
    for (const c of counts) {
      const r = c.resource;
      const pid = int(r['process.pid']);
      const instanceId = text(r['service.instance.id']);
      const key = `${pid ?? '-'}|${instanceId}`;
      let row = this.byKey.get(key);
      if (!row) {
        const slot = int(r['nodejs.cluster.worker.slot']);
        row = {
          role: slot === undefined ? 'standalone' : 'worker',
          pid,
          instanceId,
          serviceName: text(r['service.name']),
          slot,
          spans: 0,
          metricPoints: 0,
          logRecords: 0,
        };
        this.byKey.set(key, row);
      }
      row.spans += c.spans;
      row.metricPoints += c.metricPoints;
      row.logRecords += c.logRecords;
    }
  }

  /** Workers by slot, then the others by pid. */
  rows(): ProcessRow[] {
    return [...this.byKey.values()].sort(
      (a, b) =>
        (a.role === b.role ? 0 : a.role === 'worker' ? -1 : 1) ||
        (a.slot ?? 0) - (b.slot ?? 0) ||
        (a.pid ?? 0) - (b.pid ?? 0)
    );
  }
}

/** The live line: `3 processes · 120 spans · 40 metric points · 0 log records`. */
export function formatLiveLine(rows: readonly ProcessRow[]): string {
  const sum = (k: 'spans' | 'metricPoints' | 'logRecords'): number =>
    rows.reduce((n, r) => n + r[k], 0);
  const plural = (n: number, word: string): string =>
    `${n} ${word}${n === 1 ? '' : 's'}`;
  return [
    plural(rows.length, 'process').replace('processs', 'processes'),
    plural(sum('spans'), 'span'),
    plural(sum('metricPoints'), 'metric point'),
    plural(sum('logRecords'), 'log record'),
  ].join(' · ');
}

/** The closing table, one row per exporting process, columns aligned. */
export function formatProcessTable(rows: readonly ProcessRow[]): string {
  const header = [
    'role',
    'pid',
    'service.instance.id',
    'spans',
    'metric points',
    'log records',
  ];
  const body = rows.map(r => [
    r.role,
    r.pid === undefined ? '-' : String(r.pid),
    r.instanceId,
    String(r.spans),
    String(r.metricPoints),
    String(r.logRecords),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map(cells => (cells[i] ?? '').length))
  );
  // Numbers right-aligned, names left-aligned.
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) =>
        i >= 3 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)
      )
      .join('  ')
      .trimEnd();
  const out = [line(header), ...body.map(line)];
  if (rows.length === 0) out.push('(nothing arrived)');
  return `${out.join('\n')}\n`;
}
