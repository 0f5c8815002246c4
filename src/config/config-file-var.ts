// Which declarative configuration file a process is given: OTEL_CONFIG_FILE, or the deprecated
// OTEL_EXPERIMENTAL_CONFIG_FILE. Read by readConfig in every process; it reads no file and loads
// nothing (the file itself is read only where telemetry is exported, see config-file.ts).
// Ref: https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#declarative-configuration

/** The variable naming the configuration file. */
export const CONFIG_FILE_VAR = 'OTEL_CONFIG_FILE';
/** Its name while declarative configuration was experimental; still read, with one line. */
export const DEPRECATED_CONFIG_FILE_VAR = 'OTEL_EXPERIMENTAL_CONFIG_FILE';
/** Variables readConfig reads that have no otel-launch flag of their own. */
export const DEPRECATED_VARS: readonly string[] = [DEPRECATED_CONFIG_FILE_VAR];

/** The configuration file a process was given, and the variable that named it. */
export interface ConfigFileSetting {
  readonly path: string;
  readonly variable: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The configuration file named by `env`, or undefined. The deprecated name is honoured when the
 * current one is unset, with one sentence in `problems` (a cluster says it once, in its primary).
 * Never throws.
 */
export function readConfigFileSetting(
  env: Env,
  problems: string[]
): ConfigFileSetting | undefined {
  const current = env[CONFIG_FILE_VAR]?.trim();
  const deprecated = env[DEPRECATED_CONFIG_FILE_VAR]?.trim();
  if (current) {
    if (deprecated) {
      problems.push(
        `${DEPRECATED_CONFIG_FILE_VAR} is deprecated and ignored: ${CONFIG_FILE_VAR} is set`
      );
    }
    return { path: current, variable: CONFIG_FILE_VAR };
  }
  if (!deprecated) return undefined;
  problems.push(
    `${DEPRECATED_CONFIG_FILE_VAR} is deprecated; rename it ${CONFIG_FILE_VAR} (read this time)`
  );
  return { path: deprecated, variable: DEPRECATED_CONFIG_FILE_VAR };
}
