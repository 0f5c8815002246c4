// The benchmark's samples and their statistics (median, min, max), per metric and variant.
// Used by bench/run.ts (which records) and bench/rows.ts (which reports).

/**
 * The variants every row compares, in the order of the table's columns; `previous` (an earlier
 * release of ours, `--previous DIR`) only when asked for.
 */
export type Variant = 'bare' | 'upstream' | 'forksafe' | 'previous';
export const VARIANTS: readonly Variant[] = ['bare', 'upstream', 'forksafe'];
/** Every variant, `previous` included: what a row may hold samples of. */
export const ALL_VARIANTS: readonly Variant[] = [...VARIANTS, 'previous'];

/** Raw samples: metric -> variant -> values. */
export type Samples = Record<string, Partial<Record<Variant, number[]>>>;

/** Median, min and max of one metric and variant, and how many samples. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Every sample recorded in this run. */
export const samples: Samples = {};

/** Records one sample of `metric` for `variant`. */
export function record(metric: string, variant: Variant, value: number): void {
  const m = (samples[metric] ??= {});
  (m[variant] ??= []).push(value);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The statistics of `xs`, or undefined when there is no sample. */
export function stat(xs: readonly number[] | undefined): Stat | undefined {
  if (!xs || xs.length === 0) return undefined;
  return {
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    n: xs.length,
  };
}
