// Puts one leading statement into each module wrapper import-in-the-middle generates, telling
// the preload which module is about to be registered with iitm's hooks, so that it can
// construct that module's instrumentation just in time (lazy.ts). Used
// in-thread by esm-hooks.ts; `load` serves the loader thread on older 22/24 releases.
import { sourceText, type LoadResult } from './esm-entry-hook.ts';

type NextLoad = (
  url: string,
  context: object
) => LoadResult | Promise<LoadResult>;

// Dev note: iitm's wrapper imports the real module, then calls iitm's register() in its body.
// Imports are hoisted, so a statement placed first runs after the real module has evaluated
// and before register() hands it to the hooks: an instrumentation constructed here is in time.
// It goes on the wrapper's first line, without a newline, so no line number moves.
function marker(realUrl: string): string {
  return `globalThis[Symbol.for("otel-forksafe")]?.esmModuleLoading?.(${JSON.stringify(realUrl)});`;
}

/** `result` with the marker in front when `url` is an iitm wrapper; else `result` itself. */
export function withLoadingMarker(url: string, result: LoadResult): LoadResult {
  // Dev note: this runs for every module the process loads; the common case is one search.
  if (!url.includes('iitm=true') || result.format !== 'module') return result;
  if (result.source == null) return result;
  let realUrl: string;
  try {
    const parsed = new URL(url);
    parsed.searchParams.delete('iitm');
    realUrl = parsed.href.startsWith('file:///node:')
      ? parsed.href.slice('file:///'.length)
      : parsed.href;
  } catch {
    return result;
  }
  return { ...result, source: marker(realUrl) + sourceText(result.source) };
}

/** Loader thread: adds the marker to iitm's wrappers; the rest passes untouched. */
export async function load(
  url: string,
  context: object,
  nextLoad: NextLoad
): Promise<LoadResult> {
  return withLoadingMarker(url, await nextLoad(url, context));
}
