// Reads a declarative configuration file (OTEL_CONFIG_FILE) with the SDK's own parser,
// @opentelemetry/configuration: YAML 1.2, ${env:…} substitution, the file_format check and the
// schema's validation. Loaded only by a process that exports (at its SDK start) and by
// otel-launch's --print-config and doctor: a cluster primary never loads the YAML parser.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as ConfigurationPackage from '@opentelemetry/configuration';
import type { ConfigurationModel } from '@opentelemetry/configuration';
import type * as YamlPackage from 'yaml';
import type { ConfigFileSetting } from './config-file-var.ts';

// The variable the SDK's configuration factory reads (config-file-var.ts's CONFIG_FILE_VAR;
// repeated so that the SDK bundle, which holds this file, takes nothing from the preload's).
const FACTORY_VAR = 'OTEL_CONFIG_FILE';

type Env = Readonly<Record<string, string | undefined>>;

/** The parsed file, or the one sentence that says why there is none. */
export type ConfigFileResult =
  | { readonly ok: true; readonly model: ConfigurationModel }
  | { readonly ok: false; readonly reason: string };

/** Where one value of the file was written, and the variables it was substituted from. */
export interface WrittenAt {
  /** 1-based line in the file. */
  readonly line: number;
  /** Variables named by `${…}` in the value as written (empty for a literal). */
  readonly variables: readonly string[];
}

// Dev note: required on first use (createRequire at call time: this module is also part of the
// preload's plain ES build, where nothing heavy may load before the role is known).
function load<T>(id: string): T {
  return createRequire(import.meta.url)(id) as T;
}

/** The SDK's configuration package (loads the YAML parser). */
export function loadConfigurationPackage(): typeof ConfigurationPackage {
  return load<typeof ConfigurationPackage>('@opentelemetry/configuration');
}

function loadYaml(): typeof YamlPackage {
  return load<typeof YamlPackage>('yaml');
}

/** The first line of an error's message, with its code: never a stack. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]?.trim() ?? text;
}

/**
 * Runs `fn` with process.env showing `env`, restored before returning.
 * Dev note: the SDK's parser reads the file's path and every `${VAR}` from process.env itself
 * (@opentelemetry/core getStringFromEnv); this is the only way to give it the environment the
 * child of otel-launch will have, or the deprecated variable's path. The call is synchronous,
 * so no other code (no timer, no child process) can run while the overlay is in place; when
 * `env` already matches process.env nothing is written at all.
 */
function withEnv<T>(env: Env, fn: () => T): T {
  const saved = new Map<string, string | undefined>();
  const keys = new Set([...Object.keys(process.env), ...Object.keys(env)]);
  for (const key of keys) {
    if (process.env[key] === env[key]) continue;
    saved.set(key, process.env[key]);
    const value = env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  try {
    return fn();
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/**
 * Reads and parses the configuration file with the SDK's parser, substituting from `env`
 * (default process.env). Never throws: a file that cannot be read, is not YAML, has an
 * unsupported file_format or that the SDK rejects gives one sentence naming the file.
 * Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk/ (Parse: errors are
 * reported, and no SDK component is created from an invalid file)
 */
export function parseConfigFile(
  setting: ConfigFileSetting,
  env: Env = process.env
): ConfigFileResult {
  const { path } = setting;
  const name = `${setting.variable}=${JSON.stringify(path)}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : firstLine(err);
    return { ok: false, reason: `${name}: cannot read the file (${why})` };
  }
  // The SDK's parser accepts any text as YAML and reports only what follows from it (a missing
  // file_format); the same parser says where the syntax breaks.
  const yaml = loadYaml();
  const doc = yaml.parseDocument(text, { version: '1.2', prettyErrors: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const at = syntax.linePos?.[0];
    return {
      ok: false,
      reason: `${name}: not valid YAML${at ? ` at line ${at.line}` : ''}: ${firstLine(syntax).replace(/ at line \d+, column \d+:?$/, '')}`,
    };
  }
  if (!yaml.isMap(doc.contents)) {
    return {
      ok: false,
      reason: `${name}: expected a YAML mapping with file_format and the providers`,
    };
  }
  try {
    const { createConfigFactory } = loadConfigurationPackage();
    const model = withEnv({ ...env, [FACTORY_VAR]: path }, () =>
      createConfigFactory().getConfigModel()
    );
    return { ok: true, model };
  } catch (err) {
    // The validator lists every schema error on its own line: one line, joined.
    const text = err instanceof Error ? err.message : String(err);
    const detail = text
      .replace(`Invalid OpenTelemetry config file: ${path}: `, 'invalid: ')
      .replace(`${path}: `, '')
      .replace(/\n\s*/g, '; ')
      .replace(/^invalid: ; /, 'invalid: ');
    return { ok: false, reason: `${name}: ${detail}` };
  }
}

// Ref: https://opentelemetry.io/docs/specs/otel/configuration/data-model/#environment-variable-substitution
// (`${VAR}`, `${env:VAR}`, `${VAR:-default}`; `$$` is a literal `$`)
const REFERENCE = /\$\{(?:env:)?([a-zA-Z_][a-zA-Z0-9_]*)(?::-[^\n}]*)?\}/g;

/** The variables a value as written substitutes from. */
export function referencedVariables(raw: string): string[] {
  const names: string[] = [];
  for (const chunk of raw.split('$$')) {
    for (const match of chunk.matchAll(REFERENCE)) {
      if (match[1] !== undefined) names.push(match[1]);
    }
  }
  return names;
}

/**
 * Where each scalar of the file was written, keyed by its JSON pointer in the model
 * (`/tracer_provider/processors/0/batch/exporter/otlp_grpc/endpoint`), with the variables it
 * substitutes from. For --print-config. Never throws (empty for text that is not YAML).
 */
export function valueSources(text: string): ReadonlyMap<string, WrittenAt> {
  const yaml = loadYaml();
  const lineCounter = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { version: '1.2', lineCounter });
  const out = new Map<string, WrittenAt>();
  const walk = (node: unknown, pointer: string): void => {
    if (yaml.isMap(node)) {
      for (const pair of node.items) {
        const key = yaml.isScalar(pair.key) ? String(pair.key.value) : '?';
        walk(pair.value, `${pointer}/${key}`);
      }
    } else if (yaml.isSeq(node)) {
      node.items.forEach((item, i) => walk(item, `${pointer}/${i}`));
    } else if (yaml.isScalar(node)) {
      const offset = node.range?.[0] ?? 0;
      out.set(pointer, {
        line: lineCounter.linePos(offset).line,
        variables:
          typeof node.value === 'string' ? referencedVariables(node.value) : [],
      });
    }
  };
  walk(doc.contents, '');
  return out;
}
