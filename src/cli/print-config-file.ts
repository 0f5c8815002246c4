// `otel-launch --print-config` (and doctor) with OTEL_CONFIG_FILE: the file read as the child
// will read it (the SDK's parser, the child's environment), each value with where it was
// written (file:line) and the variables substituted into it, what each signal will do, and the
// file's settings that change nothing here. Header values are never shown.
import { basename } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  loadConfigurationPackage,
  parseConfigFile,
  valueSources,
} from '../config/config-file.ts';
import type { ConfigFileSetting } from '../config/config-file-var.ts';
import {
  configFromModel,
  type FileSettings,
} from '../config/from-config-file.ts';
import type { ForksafeConfig, Signal } from '../config/types.ts';

type Env = Readonly<Record<string, string | undefined>>;

const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];
const REDACTED = '[REDACTED]';
// Values that may carry secrets: header values and header lists (API keys, tokens).
const SECRET = /\/headers\/\d+\/value$|\/headers_list$/;

/**
 * The file mapped to the config the child would start with (for doctor), or the one sentence
 * that says why the child would start no SDK. Never throws.
 */
export function configFromFile(
  setting: ConfigFileSetting,
  base: ForksafeConfig,
  env: Env
): { ok: true; settings: FileSettings } | { ok: false; reason: string } {
  const parsed = parseConfigFile(setting, env);
  if (!parsed.ok) return parsed;
  const mapped = configFromModel(
    parsed.model,
    base,
    loadConfigurationPackage()
  );
  if (mapped.ok) return mapped;
  return {
    ok: false,
    reason: `${setting.variable}=${JSON.stringify(setting.path)}: ${mapped.reason}`,
  };
}

/** The value at a JSON pointer of the parsed model. */
function valueAt(model: unknown, pointer: string): unknown {
  let node = model;
  for (const part of pointer.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '(none)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The report as text, and whether the child would start its SDK (false: the file is bad or asks
 * for what otel-forksafe cannot honour; the reason is in the text).
 */
export function formatConfigFile(
  setting: ConfigFileSetting,
  base: ForksafeConfig,
  env: Env
): { text: string; ok: boolean } {
  const lines = [
    `configuration file ${setting.path} (${setting.variable}); the other OTEL_* variables count only through \${…} in it`,
  ];
  const result = configFromFile(setting, base, env);
  if (!result.ok) {
    lines.push(`error: ${result.reason}`);
    lines.push('the application would run without telemetry');
    return { text: `${lines.join('\n')}\n`, ok: false };
  }
  const parsed = parseConfigFile(setting, env);
  const model = parsed.ok ? parsed.model : {};
  const name = basename(setting.path);
  let text = '';
  try {
    text = readFileSync(setting.path, 'utf8');
  } catch {
    // Read a moment ago by the parser; without it the values are shown without lines.
  }
  const { config, lints } = result.settings;

  lines.push('values (where written, and the variables substituted into them)');
  const sources = [...valueSources(text)].filter(
    ([pointer]) => pointer !== '/file_format'
  );
  const width = Math.max(...sources.map(([p]) => p.length), 20);
  for (const [pointer, source] of sources) {
    const value = SECRET.test(pointer)
      ? REDACTED
      : show(valueAt(model, pointer));
    const from = [
      `${name}:${source.line}`,
      ...source.variables.map(v => `env ${v}${env[v] ? '' : ' (unset)'}`),
    ].join(', ');
    lines.push(`  ${pointer.padEnd(width)}  ${value}  (${from})`);
  }

  lines.push('general');
  lines.push(`  service.name        ${config.serviceName ?? '(default)'}`);
  lines.push(
    `  resource            ${Object.entries(config.resourceAttributes)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}; service.instance.id per process (per worker: <id>-w<slot>)`
  );
  lines.push(
    `  propagators         ${config.propagators.join(',') || '(none)'}`
  );
  lines.push(
    `  sampler             ${config.sampler.name}${config.sampler.name.endsWith('traceidratio') ? ` ${config.sampler.ratio}` : ''}`
  );
  for (const signal of SIGNALS) {
    const exporters: readonly string[] = config.exporters[signal];
    lines.push(signal);
    lines.push(`  exporters           ${exporters.join(',') || 'none'}`);
    if (!exporters.includes('otlp')) continue;
    const otlp = config.otlp[signal];
    lines.push(`  protocol            ${otlp.protocol}`);
    lines.push(`  endpoint            ${otlp.url}`);
    const headers = Object.keys(otlp.headers);
    if (headers.length > 0) {
      lines.push(
        `  headers             ${headers.map(h => `${h}=${REDACTED}`).join(',')}`
      );
    }
    if (otlp.compression !== 'none') {
      lines.push(`  compression         ${otlp.compression}`);
    }
  }
  if (lints.length === 0) lines.push('no warnings');
  else {
    lines.push(`${lints.length} warning(s)`);
    for (const lint of lints) lines.push(`  warning: ${lint}`);
  }
  return { text: `${lines.join('\n')}\n`, ok: true };
}
