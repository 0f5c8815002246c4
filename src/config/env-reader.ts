// Reads single environment variables with the specification's parsing rules, and records one
// sentence per bad value. Used by src/config/read-config.ts and otlp.ts.
// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#parsing-empty-value

/** An environment: process.env or a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One pass over an environment, collecting problems. */
export class Reader {
  readonly problems: string[] = [];
  readonly env: Env;
  constructor(env: Env) {
    this.env = env;
  }

  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  /**
   * Records one sentence for a bad value. A variable shared by the three signals (the
   * OTEL_EXPORTER_OTLP_* ones) is read three times but reported once.
   */
  problem(name: string, value: string, expected: string, used: string): void {
    this.report(
      name,
      `${name}=${JSON.stringify(value)} is not valid (${expected}); using ${used}`
    );
  }

  report(name: string, sentence: string): void {
    if (this.reported.has(name)) return;
    this.reported.add(name);
    this.problems.push(sentence);
  }

  private readonly reported = new Set<string>();

  // Ref: spec "Parsing empty value" and "Boolean value": only "true" is true, case-insensitive.
  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    this.problem(name, value, 'expected true or false', String(fallback));
    return fallback;
  }

  // Ref: spec "Numeric value": invalid values are ignored with a warning.
  number(
    name: string,
    fallback: number,
    opts: { min?: number; max?: number; integer?: boolean } = {}
  ): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    const min = opts.min ?? 0;
    const ok =
      Number.isFinite(n) &&
      n >= min &&
      (opts.max === undefined || n <= opts.max) &&
      (!opts.integer || Number.isInteger(n));
    if (ok) return n;
    const range =
      opts.max === undefined
        ? `expected a ${opts.integer ? 'whole ' : ''}number >= ${min}`
        : `expected a number from ${min} to ${opts.max}`;
    this.problem(name, value, range, String(fallback));
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const lower = value.toLowerCase() as T;
    if (allowed.includes(lower)) return lower;
    this.problem(
      name,
      value,
      `expected one of ${allowed.join(', ')}`,
      fallback
    );
    return fallback;
  }

  list(name: string): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    return value
      .split(',')
      .map(s => s.trim())
      .filter(s => s !== '');
  }
}

/**
 * Parses a W3C-baggage-style `key=value,key2=value2` list (OTEL_RESOURCE_ATTRIBUTES and the
 * OTLP headers variables), percent-decoding keys and values. Returns undefined when malformed.
 * Ref: https://opentelemetry.io/docs/specs/otel/resource/sdk/#specifying-resource-information-via-an-environment-variable
 */
export function parseKeyValueList(
  text: string
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    try {
      const key = decodeURIComponent(part.slice(0, eq).trim());
      const value = decodeURIComponent(part.slice(eq + 1).trim());
      if (key === '') return undefined;
      out[key] = value;
    } catch {
      return undefined;
    }
  }
  return out;
}
