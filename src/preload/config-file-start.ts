// OTEL_CONFIG_FILE in a process that exports: read the file with the SDK's parser at the SDK's
// start (never earlier, never in a primary), and turn it into what our own SDK build takes, with
// the process's identity on top. Called by export-here.ts; a bad file is one line and no
// telemetry, and the application runs as it would without us.
import {
  parseConfigFile,
  loadConfigurationPackage,
} from '../config/config-file.ts';
import type { ConfigFileSetting } from '../config/config-file-var.ts';
import { configFromModel } from '../config/from-config-file.ts';
import type { ForksafeConfig } from '../config/types.ts';
import { configureDiag, log } from '../diag.ts';
import {
  ATTR_WORKER_SLOT,
  workerInstanceId,
  type ProcessIdentity,
} from '../identity/process-identity.ts';
import type {
  DeferredMeterProvider,
  DeferredTracerProvider,
} from '../instrumentation/early-providers.ts';
import type { SdkHandle } from '../sdk/start.ts';

/** What the SDK starts with once the file is read. */
export interface FileStart {
  readonly config: ForksafeConfig;
  readonly identity: ProcessIdentity;
}

/**
 * The identity with the file's service.instance.id: a single process takes it as it is; a
 * cluster (or pm2) worker derives its own from it and its slot, so workers stay distinct and a
 * slot keeps its id across restarts; any other process (a thread) keeps the one it has.
 */
export function identityWithFileId(
  identity: ProcessIdentity,
  fileId: string | undefined
): ProcessIdentity {
  if (fileId === undefined) return identity;
  const slot = identity.attributes[ATTR_WORKER_SLOT];
  const keys = Object.keys(identity.attributes);
  const single =
    keys.length === 3 &&
    ['service.instance.id', 'process.pid', 'process.parent_pid'].every(k =>
      keys.includes(k)
    );
  const instanceId =
    typeof slot === 'number'
      ? workerInstanceId(fileId, slot)
      : single
        ? fileId
        : undefined;
  if (instanceId === undefined) return identity;
  return {
    instanceId,
    attributes: { ...identity.attributes, 'service.instance.id': instanceId },
    ...(typeof slot === 'number' ? { derivedFrom: fileId } : {}),
  };
}

/**
 * Reads the file and returns the config and identity to start with, or undefined when no SDK
 * may start (the file is bad, asks for what we cannot honour, or says `disabled: true`); the
 * reason was said in one line. Never throws.
 */
export function startFromConfigFile(
  setting: ConfigFileSetting,
  config: ForksafeConfig,
  identity: ProcessIdentity
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
  return {
    config: settings.config,
    identity: identityWithFileId(identity, settings.instanceId),
  };
}

/**
 * The handle of an SDK that did not start: nothing to flush. Providers handed out early are
 * told there will be none, so what they held is dropped and nothing more is held.
 */
export function noSdk(deferred?: {
  readonly tracerProvider: DeferredTracerProvider;
  readonly meterProvider: DeferredMeterProvider;
}): SdkHandle {
  deferred?.tracerProvider.attach(undefined);
  deferred?.meterProvider.attach(undefined);
  const none = { spans: 0, metricPoints: 0, logRecords: 0 };
  return {
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
    flushSync: () => undefined,
    undelivered: () => ({ pending: none, lost: none, cause: undefined }),
    abort: () => undefined,
  };
}
