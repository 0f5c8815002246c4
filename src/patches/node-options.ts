// Pure helpers for NODE_OPTIONS and execArgv: split them like Node does, find our preload in
// them, and append an `--import=<file URL>` exactly once. Used by the fork patch and otel-launch.

/**
 * Splits a NODE_OPTIONS string the way Node does: whitespace separates, double quotes group,
 * and a backslash inside quotes escapes the next character.
 */
export function tokenizeNodeOptions(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let inQuotes = false;
  let hasToken = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (inQuotes && ch === '\\' && i + 1 < text.length) {
      current += text.charAt(++i);
    } else if (ch === '"') {
      inQuotes = !inQuotes;
      hasToken = true;
    } else if (!inQuotes && /\s/.test(ch)) {
      if (hasToken) out.push(current);
      current = '';
      hasToken = false;
    } else {
      current += ch;
      hasToken = true;
    }
  }
  if (hasToken) out.push(current);
  return out;
}

const PRELOAD_FLAGS = new Set([
  '--import',
  '--require',
  '-r',
  '--loader',
  '--experimental-loader',
]);

/** The values given to --import / --require / -r in an argument list. */
export function preloadSpecifiers(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    if (eq > 0 && PRELOAD_FLAGS.has(arg.slice(0, eq))) {
      out.push(arg.slice(eq + 1));
    } else if (PRELOAD_FLAGS.has(arg) && i + 1 < args.length) {
      out.push(args[++i] ?? '');
    }
  }
  return out;
}

/** Quotes one NODE_OPTIONS token when it needs it. */
function quoteToken(token: string): string {
  return /[\s"\\]/.test(token) ? `"${token.replace(/["\\]/g, '\\$&')}"` : token;
}

/**
 * Returns NODE_OPTIONS with `--import=<url>` appended, keeping what was there. When `isOurs`
 * says one of the existing preloads is already ours, the value comes back unchanged.
 */
export function appendImportToNodeOptions(
  existing: string | undefined,
  url: string,
  isOurs: (specifier: string) => boolean = s => s === url
): string {
  const current = existing?.trim() ?? '';
  if (preloadSpecifiers(tokenizeNodeOptions(current)).some(isOurs))
    return current;
  const flag = quoteToken(`--import=${url}`);
  return current === '' ? flag : `${current} ${flag}`;
}
