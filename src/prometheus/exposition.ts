// Merges the Prometheus text expositions of several processes (each serialized by the
// exporter's PrometheusSerializer in its own process) into one, and writes the endpoint's own
// status gauges. Pure string work: the process serving the endpoint needs no SDK for it.
// Ref: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

interface Family {
  readonly header: string[];
  type: string | undefined;
  readonly samples: string[];
}

/** How many processes a scrape gathered, for the endpoint's own gauges. */
export interface GatherStatus {
  /** Processes whose metrics are in this scrape. */
  readonly answered: number;
  /** Processes that did not answer within the bound (their series are missing). */
  readonly leftOut: number;
}

const HEADER = /^# (HELP|UNIT|TYPE) (\S+)(?: (.*))?$/;

function sampleName(line: string): string {
  const end = line.search(/[{ ]/);
  return end < 0 ? line : line.slice(0, end);
}

/**
 * One exposition from several: every metric family appears once, with its HELP, UNIT and TYPE
 * taken from the first process that has it and the samples of every process under it (the
 * text format wants one TYPE line per family, and Prometheus rejects a second one). A process
 * whose TYPE for a family differs from the first one's loses that family in this scrape.
 * `status` adds otel_forksafe_scrape_processes and otel_forksafe_scrape_processes_left_out.
 */
export function mergeExpositions(
  texts: readonly string[],
  status?: GatherStatus
): string {
  const families = new Map<string, Family>();
  for (const text of texts) {
    // Per process: family name -> whether this process's samples of it are kept.
    const kept = new Map<string, boolean>();
    let current: string | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const header = HEADER.exec(line);
      if (header) {
        const [, kind, name] = header as unknown as [string, string, string];
        current = name;
        let family = families.get(name);
        const fresh = family === undefined;
        family ??= { header: [], type: undefined, samples: [] };
        if (fresh) families.set(name, family);
        if (!kept.has(name)) kept.set(name, true);
        if (kind === 'TYPE') {
          const type = header[3] ?? 'untyped';
          if (family.type === undefined) {
            family.type = type;
            family.header.push(line);
          } else if (family.type !== type) kept.set(name, false);
        } else if (
          fresh ||
          !family.header.some(h => h.startsWith(`# ${kind} `))
        )
          family.header.push(line);
        continue;
      }
      if (line.startsWith('#')) continue;
      // Samples belong to the family of the last header (histogram _bucket/_sum/_count too).
      const name = current ?? sampleName(line);
      let family = families.get(name);
      if (!family) {
        family = { header: [], type: undefined, samples: [] };
        families.set(name, family);
      }
      if (kept.get(name) !== false) family.samples.push(line);
    }
  }
  let out = '';
  for (const family of families.values()) {
    if (family.samples.length === 0) continue;
    // HELP, UNIT, TYPE in that order, as the serializer writes them.
    const order = ['# HELP', '# UNIT', '# TYPE'];
    const header = [...family.header].sort(
      (a, b) =>
        order.findIndex(p => a.startsWith(p)) -
        order.findIndex(p => b.startsWith(p))
    );
    out += `${[...header, ...family.samples].join('\n')}\n`;
  }
  if (status) {
    out +=
      '# HELP otel_forksafe_scrape_processes Processes whose metrics are in this scrape.\n' +
      '# TYPE otel_forksafe_scrape_processes gauge\n' +
      `otel_forksafe_scrape_processes ${status.answered}\n` +
      '# HELP otel_forksafe_scrape_processes_left_out Processes that did not answer this scrape in time; their series are missing from it.\n' +
      '# TYPE otel_forksafe_scrape_processes_left_out gauge\n' +
      `otel_forksafe_scrape_processes_left_out ${status.leftOut}\n`;
  }
  return out;
}
