// A module-customization hook (module.register, loader thread): appends to the app's ESM entry
// module one statement that tells the preload the entry has finished evaluating.
// Registered by src/esm-hooks.ts only in a process whose role is still undecided.

interface HookData {
  entryUrl: string;
}

interface LoadResult {
  format?: string | null | undefined;
  source?: string | ArrayBuffer | ArrayBufferView | null | undefined;
  shortCircuit?: boolean;
}

type NextLoad = (
  url: string,
  context: object
) => LoadResult | Promise<LoadResult>;

let entryUrl: string | undefined;

// Dev note: appended at the end, so the marker runs after the entry's body, top-level awaits
// included, and no line number of the app's source moves.
const MARKER =
  '\n;globalThis[Symbol.for("otel-forksafe")]?.mainEvaluated?.();\n';

/** Receives the entry URL from the main thread. */
export function initialize(data: HookData | undefined): void {
  entryUrl = data?.entryUrl;
}

/** Adds the marker to the entry module's source; every other module passes untouched. */
export async function load(
  url: string,
  context: object,
  nextLoad: NextLoad
): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  if (url !== entryUrl || result.format !== 'module' || result.source == null)
    return result;
  const source =
    typeof result.source === 'string'
      ? result.source
      : Buffer.from(result.source as ArrayBuffer).toString('utf8');
  entryUrl = undefined;
  return { ...result, source: source + MARKER };
}
