// OTEL_CONFIG_FILE in a process that exports: read the file with the SDK's parser at the SDK's
// start (never earlier, never in a primary), and turn it into what our own SDK build takes, with
// the process's identity on top. Part of the SDK bundle, called by src/preload/export-here.ts; a bad file is one line and
// no telemetry, and the application runs as it would without us.
import {
  parseConfigFile,
  loadConfigurationPackage,
} from '../config/config-file.ts';
import type { ConfigFileSetting } from '../config/config-file-var.ts';
import { configFromModel } from '../config/from-config-file.ts';
import type { ForksafeConfig } from '../config/types.ts';
import { configureDiag, log } from '../diag.ts';

/** What the SDK starts with once the file is read. */
export interface FileStart {
  readonly config: ForksafeConfig;
  /** service.instance.id from the file's resource, if it sets one. */
  readonly instanceId: string | undefined;
}

/**
 * Reads the file and returns the config and identity to start with, or undefined when no SDK
 * may start (the file is bad, asks for what we cannot honour, or says `disabled: true`); the
 * reason was said in one line. Never throws.
 */
export function startFromConfigFile(
  setting: ConfigFileSetting,
  config: ForksafeConfig
): FileStart | undefined {
  const parsed = parseConfigFile(setting);
  const mapped = parsed.ok
    ? configFromModel(parsed.model, config, loadConfigurationPackage())
    : parsed;
  if (!mapped.ok) {
    const reason = parsed.ok
      ? `${setting.variable}=${JSON.stringify(setting.path)}: ${mapped.reason}`
      : mapped.reason;
    log.error(`${reason}; the application continues without telemetry`);
    return undefined;
  }
  const { settings } = mapped;
  configureDiag({ level: settings.config.logLevel });
  if (settings.config.disabled) {
    log.debug(`${setting.path}: disabled: true; no SDK here`);
    return undefined;
  }
  if (settings.lints.length > 0) {
    log.warn(`${setting.path}: ${settings.lints.join('; ')}`);
  }
  log.debug(`configuration from ${setting.path}`);
  return { config: settings.config, instanceId: settings.instanceId };
}
