// A module-customization hook (module.register, loader thread), chained in front of
// import-in-the-middle's: each module wrapper iitm generates gets one leading statement that
// tells the preload which module is about to be registered with iitm's hooks, so the
// preload can construct that module's instrumentation just in time (lazy-instrumentations.ts).

interface LoadResult {
  format?: string | null | undefined;
  source?: string | ArrayBuffer | ArrayBufferView | null | undefined;
  shortCircuit?: boolean;
}

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

/** Adds the marker to iitm's wrappers (URLs carrying `iitm=true`); the rest passes untouched. */
export async function load(
  url: string,
  context: object,
  nextLoad: NextLoad
): Promise<LoadResult> {
  const result = await nextLoad(url, context);
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
  const source =
    typeof result.source === 'string'
      ? result.source
      : Buffer.from(result.source as ArrayBuffer).toString('utf8');
  return { ...result, source: marker(realUrl) + source };
}
