// otel-launch's main: parse, then run the command (optionally against the --local receiver),
// print the effective configuration, or run the doctor; returns the status to exit with.
// Dev note: the launcher never loads the SDK. --local and doctor load protobufjs (and grpc-js
// for --local) on demand, so a plain `otel-launch node app.js` stays quick to start.
import { createRequire } from 'node:module';
import { readConfig } from '../config/read-config.ts';
import { SIGNALS } from '../config/vars.ts';
import type { ForksafeConfig } from '../config/types.ts';
import type { NodeSupport } from '../node-support.cts';
import { VERSION } from '../version.ts';
import {
  FLAG_NAMES,
  launchHelp,
  parseLaunchArgs,
  type LaunchArgs,
} from './args.ts';
import {
  buildChildEnv,
  launch,
  printError,
  type LaunchResult,
} from './launch.ts';
import { suggestName } from './suggest.ts';

const USAGE =
  'usage: otel-launch [flags] [--] <command> [args…]; otel-launch --help lists the flags';

function usageError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown?.[1] !== undefined) {
    const name = unknown[1].split(',')[0]?.trim() ?? '';
    const guess = suggestName(name, FLAG_NAMES);
    return `unknown flag --${name}${guess === undefined ? '' : ` (did you mean --${guess}?)`}; ${USAGE}`;
  }
  return `${message}; ${USAGE}`;
}

/**
 * Runs the CLI and resolves with the status to exit with (the child's, 2 on usage errors).
 * `nodeVersion` (default: this process's) decides whether the preload can run: on an
 * unsupported Node the command runs without it, after the preload's own one line.
 */
export async function runCli(
  argv: readonly string[],
  nodeVersion: string = process.version
): Promise<number> {
  let parsed: LaunchArgs;
  try {
    parsed = await parseLaunchArgs(argv);
  } catch (err) {
    printError(usageError(err));
    return 2;
  }
  switch (parsed.mode) {
    case 'help':
      process.stdout.write(`${await launchHelp()}\n`);
      return 0;
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'print-config': {
      const fileConfig = await printConfigFile(parsed.env);
      if (fileConfig !== undefined) return fileConfig;
      const { effectiveConfig, formatEffectiveConfig } =
        await import('./effective-config.ts');
      process.stdout.write(
        formatEffectiveConfig(effectiveConfig(process.env, parsed.env))
      );
      return 0;
    }
    case 'doctor': {
      const { formatDoctor, runDoctor } = await import('./doctor.ts');
      const config = await doctorConfig(parsed.env);
      if (config === undefined) return 1;
      const results = await runDoctor(config);
      process.stdout.write(formatDoctor(results));
      return results.some(r => r.status === 'failed') ? 1 : 0;
    }
    case 'run':
      break;
  }
  if (parsed.command === undefined) {
    printError(`no command given; ${USAGE}`);
    return 2;
  }
  // Dev note: otel-launch runs on the same Node as the command it starts (most often `node`):
  // when the preload would only print its line and stop, say it once here and leave
  // NODE_OPTIONS alone, so the command runs exactly as it would without us (and --local has
  // nothing to receive). The leaf is loaded with require(): it is CommonJS, shared with
  // register.cts.
  const { unsupportedNodeLine } = createRequire(import.meta.url)(
    '../node-support.cjs'
  ) as NodeSupport;
  const unsupported = unsupportedNodeLine(nodeVersion);
  if (unsupported !== undefined) process.stderr.write(`${unsupported}\n`);
  const result =
    unsupported !== undefined
      ? await launch(parsed.command, parsed.args, {
          ...process.env,
          ...parsed.env,
        })
      : parsed.local
        ? await runLocal(parsed, parsed.command, parsed.local.file)
        : await launch(
            parsed.command,
            parsed.args,
            buildChildEnv(process.env, parsed.env)
          );
  if (result.signal) {
    // Die of the same signal, as the child did, so a parent shell sees the same status.
    process.removeAllListeners(result.signal);
    process.kill(process.pid, result.signal);
  }
  return result.code;
}

// OTEL_CONFIG_FILE: print the file's report instead (print-config-file.ts); undefined without one.
async function printConfigFile(
  flags: Readonly<Record<string, string>>
): Promise<number | undefined> {
  const env = { ...process.env, ...flags };
  const base = readConfig(env);
  if (base.configFile === undefined) return undefined;
  const { formatConfigFile } = await import('./print-config-file.ts');
  const { text, ok } = formatConfigFile(base.configFile, base, env);
  process.stdout.write(text);
  return ok ? 0 : 1;
}

// The config doctor checks: the file's exporters when there is one; undefined (said) when bad.
async function doctorConfig(
  flags: Readonly<Record<string, string>>
): Promise<ForksafeConfig | undefined> {
  const env = { ...process.env, ...flags };
  const base = readConfig(env);
  if (base.configFile === undefined) return base;
  const { configFromFile } = await import('./print-config-file.ts');
  const result = configFromFile(base.configFile, base, env);
  if (result.ok) return result.settings.config;
  printError(`${result.reason}; the application would run without telemetry`);
  return undefined;
}

/**
 * Variables --local sets for the child: every signal's endpoint at our receiver (gRPC or HTTP,
 * whichever protocol the signal is configured for), and quicker export intervals unless the
 * user chose their own, so the live line moves.
 */
export function localOverrides(
  env: Readonly<Record<string, string | undefined>>,
  endpoints: { grpc: string; http: string }
): Record<string, string> {
  const config = readConfig(env);
  const out: Record<string, string> = {};
  for (const signal of SIGNALS) {
    const S = signal.toUpperCase();
    out[`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`] =
      config.otlp[signal].protocol === 'grpc'
        ? endpoints.grpc
        : `${endpoints.http}/v1/${signal}`;
  }
  const unset = (name: string): boolean => (env[name]?.trim() ?? '') === '';
  if (unset('OTEL_BSP_SCHEDULE_DELAY')) out.OTEL_BSP_SCHEDULE_DELAY = '500';
  if (unset('OTEL_METRIC_EXPORT_INTERVAL')) {
    out.OTEL_METRIC_EXPORT_INTERVAL = '5000';
  }
  return out;
}

async function runLocal(
  parsed: LaunchArgs,
  command: string,
  file: string | undefined
): Promise<LaunchResult> {
  const [{ startLocalReceiver }, { formatLiveLine, formatProcessTable }] =
    await Promise.all([
      import('./local-receiver.ts'),
      import('./local-report.ts'),
    ]);
  let receiver;
  try {
    receiver = await startLocalReceiver({
      file,
      onProblem: message => printError(message),
    });
  } catch (err) {
    printError(
      `--local: cannot start the receiver on 127.0.0.1: ${(err as Error).message}`
    );
    return { code: 1, signal: null, pid: undefined };
  }
  const merged = { ...process.env, ...parsed.env };
  const overrides = localOverrides(merged, {
    grpc: receiver.grpcEndpoint,
    http: receiver.httpEndpoint,
  });
  // The live line only where it can be redrawn in place: on a terminal.
  const live = process.stderr.isTTY;
  let shown = '';
  const draw = (): void => {
    const text = `otel-launch --local: ${formatLiveLine(receiver.rows())}`;
    if (text === shown) return;
    shown = text;
    process.stderr.write(`\r\x1b[K${text}`);
  };
  const timer = live ? setInterval(draw, 500) : undefined;
  let result: LaunchResult | undefined;
  try {
    result = await launch(
      command,
      parsed.args,
      buildChildEnv(process.env, { ...parsed.env, ...overrides })
    );
    return result;
  } finally {
    clearInterval(timer);
    if (live && shown !== '') process.stderr.write('\r\x1b[K');
    await receiver.close();
    const rows = receiver.rows();
    const pid = result?.pid;
    // The process we started is often silent on purpose (a cluster primary, npm): say so.
    const silent =
      pid !== undefined && !rows.some(r => r.pid === pid)
        ? `pid ${pid} (${command}, the process otel-launch started) sent nothing\n`
        : '';
    process.stderr.write(
      `otel-launch --local: telemetry received per process (${formatLiveLine(rows)})\n${formatProcessTable(rows)}${silent}${file === undefined ? '' : `written to ${file} (OTLP/JSON, one request per line)\n`}`
    );
  }
}
