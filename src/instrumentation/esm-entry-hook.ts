// Appends to the app's ES module entry one statement that tells the preload the entry has
// finished evaluating, and puts one at the top of @opentelemetry/api's ES module entry that
// tells it the app is loading the API (both only while the role is undecided). Used in-thread by esm-hooks.ts (module.registerHooks); the `load`
// and `initialize` exports serve the loader thread on Nodes whose sync hooks cannot be used.

/** What a load hook returns (the fields we read or set). */
export interface LoadResult {
  format?: string | null | undefined;
  source?: string | ArrayBuffer | ArrayBufferView | null | undefined;
  shortCircuit?: boolean;
}

interface HookData {
  entryUrl: string;
}

type NextLoad = (
  url: string,
  context: object
) => LoadResult | Promise<LoadResult>;

// Dev note: appended at the end, so the marker runs after the entry's body, top-level awaits
// included, and no line number of the app's source moves.
const MARKER =
  '\n;globalThis[Symbol.for("otel-forksafe")]?.mainEvaluated?.();\n';

/** The module source as text (a load hook may return a Buffer or typed array). */
export function sourceText(source: NonNullable<LoadResult['source']>): string {
  if (typeof source === 'string') return source;
  return ArrayBuffer.isView(source)
    ? Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString(
        'utf8'
      )
    : Buffer.from(source).toString('utf8');
}

/** `result` with the marker appended when it is the ES module entry; else `result` itself. */
export function withEntryMarker(
  url: string,
  result: LoadResult,
  entryUrl: string
): LoadResult {
  if (url !== entryUrl || result.format !== 'module' || result.source == null)
    return result;
  return { ...result, source: sourceText(result.source) + MARKER };
}

// @opentelemetry/api 1.10+ is a dual package: `import` gets dist/index.mjs, which never passes
// through the CommonJS loader where lazy.ts sees the API arrive.
const API_ESM_ENTRY = /\/@opentelemetry\/api\/dist\/index\.mjs$/;
// Dev note: one line, no newline, so no line number of the API's source moves; imports are
// hoisted, so it runs once the API's own imports have evaluated and before any importer does.
const API_MARKER = 'globalThis[Symbol.for("otel-forksafe")]?.apiLoading?.();';

/** `result` with the marker in front when it is the API's ES module entry. */
export function withApiMarker(url: string, result: LoadResult): LoadResult {
  if (
    !url.endsWith('/index.mjs') ||
    !API_ESM_ENTRY.test(url) ||
    result.format !== 'module' ||
    result.source == null
  )
    return result;
  return { ...result, source: API_MARKER + sourceText(result.source) };
}

let entryUrl: string | undefined;

/** Loader thread: receives the entry URL from the main thread. */
export function initialize(data: HookData | undefined): void {
  entryUrl = data?.entryUrl;
}

/** Loader thread: adds the marker to the entry module's source (once) and the API's. */
export async function load(
  url: string,
  context: object,
  nextLoad: NextLoad
): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  if (entryUrl === undefined || url !== entryUrl)
    return withApiMarker(url, result);
  entryUrl = undefined;
  return withEntryMarker(url, result, url);
}
