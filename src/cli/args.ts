// The otel-launch argument parser (yargs): one flag per variable readConfig reads, grouped by
// signal, plus the launcher's own options; parsing halts at the first positional so every
// argument of the wrapped command reaches it untouched.
import type { Argv } from 'yargs';
import { CONFIG_VARS } from '../config/vars.ts';

/** A flag that sets one OTEL_* variable for the child. */
export interface EnvFlag {
  /** kebab-case, without the dashes: `exporter-otlp-endpoint`. */
  readonly flag: string;
  readonly variable: string;
  readonly group: string;
}

/** What the command line asked for. */
export interface LaunchArgs {
  /** run a command, or one of the launcher's own jobs. */
  readonly mode: 'run' | 'help' | 'version' | 'print-config' | 'doctor';
  readonly command: string | undefined;
  readonly args: readonly string[];
  /** OTEL_* variables set by flags; they beat the environment. */
  readonly env: Readonly<Record<string, string>>;
  /** `--local[=FILE]`: run an embedded receiver; `file` gets what arrived as JSON lines. */
  readonly local: { readonly file: string | undefined } | undefined;
}

const GROUPS = {
  general: 'General:',
  traces: 'Traces:',
  metrics: 'Metrics:',
  logs: 'Logs:',
  otlp: 'OTLP exporter, all signals (a per-signal flag beats these):',
  forksafe: 'otel-forksafe:',
  launcher: 'Launcher:',
} as const;

/** The flag of a variable, derived as Python's opentelemetry-instrument does: drop OTEL_. */
export function flagOf(variable: string): string {
  return variable
    .replace(/^OTEL_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
}

function groupOf(variable: string): string {
  if (variable.startsWith('OTEL_FORKSAFE_')) return GROUPS.forksafe;
  if (/TRACES|_BSP_|PROPAGATORS/.test(variable)) return GROUPS.traces;
  if (/METRIC/.test(variable)) return GROUPS.metrics;
  if (/LOGS|_BLRP_/.test(variable)) return GROUPS.logs;
  if (variable.startsWith('OTEL_EXPORTER_OTLP_')) return GROUPS.otlp;
  return GROUPS.general;
}

/** One flag per variable of CONFIG_VARS, in that order. */
export const ENV_FLAGS: readonly EnvFlag[] = CONFIG_VARS.map(variable => ({
  flag: flagOf(variable),
  variable,
  group: groupOf(variable),
}));

const FLAG_TO_VAR = new Map(ENV_FLAGS.map(f => [f.flag, f.variable]));
/** The launcher's own boolean flags (they take no value). */
const BOOLEAN_FLAGS = new Set(['local', 'print-config', 'help', 'version']);
/** Every long flag name we accept, for the did-you-mean hint. */
export const FLAG_NAMES: readonly string[] = [
  ...ENV_FLAGS.map(f => f.flag),
  ...BOOLEAN_FLAGS,
];

/** argv split in two: our flags (normalized) and the command with its arguments. */
export interface SplitArgv {
  readonly flags: string[];
  readonly rest: string[];
  /** The command came after an explicit `--`. */
  readonly afterDashes: boolean;
}

/**
 * Splits argv at the command (the first positional, or what follows `--`) and rewrites our
 * flags into the spelling yargs knows: Python's underscores (`--service_name`) become dashes,
 * and `--local=FILE` becomes `--local --local-file FILE` (a bare `--local` must not swallow
 * the command as its value). The command's own arguments are never looked at.
 */
export function splitArgv(argv: readonly string[]): SplitArgv {
  const flags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      return { flags, rest: argv.slice(i + 1), afterDashes: true };
    }
    if (!arg.startsWith('-') || arg === '-') {
      return { flags, rest: argv.slice(i), afterDashes: false };
    }
    if (!arg.startsWith('--')) {
      // Short flags (-h) take no value; anything else is yargs's to reject.
      flags.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const raw = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const dashed = raw.replace(/_/g, '-');
    const name =
      FLAG_TO_VAR.has(dashed) || BOOLEAN_FLAGS.has(dashed) ? dashed : raw;
    if (name === 'local' && eq !== -1) {
      flags.push('--local', '--local-file', arg.slice(eq + 1));
      continue;
    }
    flags.push(eq === -1 ? `--${name}` : `--${name}${arg.slice(eq)}`);
    // A value flag given as `--flag value`: the value is not the command.
    if (eq === -1 && FLAG_TO_VAR.has(name) && i + 1 < argv.length) {
      flags.push(argv[++i] ?? '');
    }
  }
  return { flags, rest: [], afterDashes: false };
}

async function buildParser(argv: readonly string[]): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  let parser = yargs([...argv])
    .scriptName('otel-launch')
    .usage(
      [
        'Usage:',
        '  otel-launch [flags] [--] <command> [args…]   run a command instrumented',
        '  otel-launch --local[=FILE] <command> [args…]  …against a receiver built in, with a summary',
        '  otel-launch [flags] doctor                     send one export per signal and say what happened',
        '  otel-launch [flags] --print-config             show the effective configuration and lint it',
        '',
        'Each flag sets the OTEL_* variable it is named after for the command and beats the',
        "environment. Python's spellings work too (--service_name). Arguments after the command",
        'are the command’s own, so `otel-launch node app.js --help` asks app.js for help.',
      ].join('\n')
    )
    // Dev note: splitArgv already cut the command off; yargs only ever sees our flags.
    .parserConfiguration({
      'camel-case-expansion': false,
      'parse-positional-numbers': false,
    })
    .strictOptions()
    .exitProcess(false)
    .fail((message, err) => {
      throw err ?? new Error(message);
    })
    .help(false)
    .version(false)
    .wrap(Math.min(100, process.stdout.columns || 100));
  for (const { flag, variable, group } of ENV_FLAGS) {
    parser = parser
      .option(flag, {
        type: 'string',
        requiresArg: true,
        describe: variable,
      })
      .group(flag, group);
  }
  return parser
    .option('local', {
      type: 'boolean',
      describe:
        'run an OTLP receiver on 127.0.0.1 (gRPC and HTTP), point the command at it, show a live line and a per-process table at the end; --local=FILE also writes what arrived as OTLP/JSON lines',
    })
    .option('local-file', { type: 'string', hidden: true })
    .option('print-config', {
      type: 'boolean',
      describe:
        'print the effective configuration per signal (header values redacted), where each value came from, and warnings',
    })
    .option('help', { alias: 'h', type: 'boolean', describe: 'show this help' })
    .option('version', { type: 'boolean', describe: 'show the version' })
    .group(['local', 'print-config', 'help', 'version'], GROUPS.launcher);
}

/** The help text, flags grouped by signal. */
export async function launchHelp(): Promise<string> {
  return (await buildParser([])).getHelp();
}

/** Parses argv (without node and the script). Rejects with a usage Error on bad flags. */
export async function parseLaunchArgs(
  argv: readonly string[]
): Promise<LaunchArgs> {
  const { flags, rest, afterDashes } = splitArgv(argv);
  // Dev note: loading yargs takes ~65 ms; `otel-launch node app.js` configured through the
  // environment has no flags to parse and starts the child without it.
  const parsed: Record<string, unknown> & { _: Array<string | number> } =
    flags.length === 0 ? { _: [] } : (await buildParser(flags)).parseSync();
  const stray = parsed._.map(String);
  if (stray.length > 0) {
    throw new Error(`unexpected argument ${JSON.stringify(stray[0])}`);
  }
  const env: Record<string, string> = {};
  for (const { flag, variable } of ENV_FLAGS) {
    const value: unknown = parsed[flag];
    // A flag given twice: the last one wins, as for any CLI.
    const last = Array.isArray(value) ? (value.at(-1) as unknown) : value;
    if (typeof last === 'string') env[variable] = last;
  }
  const localFile: unknown = parsed['local-file'];
  const local =
    parsed.local === true || typeof localFile === 'string'
      ? { file: typeof localFile === 'string' ? localFile : undefined }
      : undefined;
  let mode: LaunchArgs['mode'] = 'run';
  if (parsed.help === true) mode = 'help';
  else if (parsed.version === true) mode = 'version';
  else if (parsed['print-config'] === true) mode = 'print-config';
  // `doctor` in the command's place is ours; `otel-launch -- doctor` runs a program named doctor.
  else if (!afterDashes && rest[0] === 'doctor') mode = 'doctor';
  return {
    mode,
    command: mode === 'run' ? rest[0] : undefined,
    args: mode === 'run' ? rest.slice(1) : [],
    env,
    local,
  };
}
