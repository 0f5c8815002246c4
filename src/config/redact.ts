// The configuration as one line for the debug preamble, with every header value redacted.
import type { ForksafeConfig } from './types.ts';

/** The config as one JSON line for the debug preamble, header values redacted. */
export function describeConfig(config: ForksafeConfig): string {
  return JSON.stringify(config, (key, value: unknown) => {
    if (key === 'problems') return undefined;
    if (key === 'headers' && value && typeof value === 'object') {
      return Object.fromEntries(Object.keys(value).map(k => [k, '[REDACTED]']));
    }
    if (key === 'instrumentations' && Array.isArray(value))
      return value.join(',');
    return value;
  });
}
