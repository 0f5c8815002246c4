// The otel-launch argument parser (yargs): our flags, then the command; parsing halts at the
// first positional so every argument of the wrapped command reaches it untouched.
import yargs from 'yargs';

/** What the command line asked for. */
export interface LaunchArgs {
  readonly command: string | undefined;
  readonly args: readonly string[];
  /** OTEL_* variables set by flags; they beat the environment. */
  readonly env: Readonly<Record<string, string>>;
}

/** Flag name (kebab-case) -> environment variable. TODO(#4): every variable, grouped by signal. */
const FLAG_VARS: Record<string, string> = {
  'service-name': 'OTEL_SERVICE_NAME',
  'traces-exporter': 'OTEL_TRACES_EXPORTER',
  'metrics-exporter': 'OTEL_METRICS_EXPORTER',
  'logs-exporter': 'OTEL_LOGS_EXPORTER',
  'exporter-otlp-endpoint': 'OTEL_EXPORTER_OTLP_ENDPOINT',
  'exporter-otlp-protocol': 'OTEL_EXPORTER_OTLP_PROTOCOL',
  'resource-attributes': 'OTEL_RESOURCE_ATTRIBUTES',
  'log-level': 'OTEL_LOG_LEVEL',
};

/** Parses argv (without node and the script). Throws a usage Error on bad flags. */
export function parseLaunchArgs(argv: readonly string[]): LaunchArgs {
  let parser = yargs([...argv])
    .scriptName('otel-launch')
    .usage('$0 [flags] [--] <command> [args…]')
    .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true })
    .strictOptions()
    .exitProcess(false)
    .fail((message, err) => {
      throw err ?? new Error(message);
    })
    .help(false)
    .version(false);
  for (const [flag, variable] of Object.entries(FLAG_VARS)) {
    parser = parser.option(flag, {
      type: 'string',
      describe: `sets ${variable}`,
    });
  }
  const parsed = parser.parseSync();
  const rest = [
    ...parsed._.map(String),
    ...((parsed['--'] as string[] | undefined) ?? []),
  ];
  const env: Record<string, string> = {};
  for (const [flag, variable] of Object.entries(FLAG_VARS)) {
    const value = parsed[flag];
    if (typeof value === 'string') env[variable] = value;
  }
  return { command: rest[0], args: rest.slice(1), env };
}
