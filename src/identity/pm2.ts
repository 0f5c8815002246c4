// pm2 support: recognise a process that pm2 started for an app (cluster or fork mode) from the
// `pm2_env` JSON that pm2's daemon hands to its app container, and give it a
// service.instance.id keyed to pm2's instance number, so `pm2 reload` keeps the ids.
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import {
  ATTR_WORKER_ID,
  ATTR_WORKER_SLOT,
  workerInstanceId,
} from './process-identity.ts';
import type { ProcessIdentity } from './process-identity.ts';
import { uuidFromHex } from './random-id.ts';
import type { Pm2Process } from '../config/types.ts';

/** Attribute carrying pm2's process id (`pm_id`, shown by `pm2 ls`). */
export const ATTR_PM2_ID = 'nodejs.pm2.pm_id';

/**
 * Reads `pm2_env`: in cluster mode pm2's daemon hands its app container the app's pm2
 * environment as this one JSON variable (the container copies it into process.env only after
 * preloads have run). `instanceVar` is the daemon's PM2_PROCESS_INSTANCE_VAR override, if any.
 * Returns undefined for anything else. Never throws.
 */
export function parsePm2Env(
  raw: string | undefined,
  instanceVar: string | undefined
): Pm2Process | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    return pm2ProcessFrom(parsed as Record<string, unknown>, instanceVar);
  } catch {
    return undefined;
  }
}

/** A whole number from a JSON number or a non-empty numeric string; NaN otherwise. */
function toInteger(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return NaN;
}

/**
 * Reads pm2's fields (`pm_id`, `name`, `PM2_HOME`, the instance variable) from a pm2
 * environment: the parsed `pm2_env` (cluster mode) or the process environment itself (fork
 * mode, where pm2 spreads them into the app's environment). Only trust the result in pm2's
 * own app container: every child of a pm2 app inherits the spread variables.
 */
export function pm2ProcessFrom(
  env: Readonly<Record<string, unknown>>,
  instanceVar: string | undefined
): Pm2Process | undefined {
  const key =
    instanceVar ??
    (typeof env.instance_var === 'string'
      ? env.instance_var
      : 'NODE_APP_INSTANCE');
  const instance = toInteger(env[key]);
  const pmId = toInteger(env.pm_id);
  const killTimeout = toInteger(env.kill_timeout);
  if (!Number.isInteger(instance) || instance < 0 || !Number.isInteger(pmId))
    return undefined;
  return {
    name: typeof env.name === 'string' ? env.name : '',
    pmId,
    instance,
    home: typeof env.PM2_HOME === 'string' ? env.PM2_HOME : '',
    ...(Number.isInteger(killTimeout) && killTimeout > 0
      ? { killTimeoutMillis: killTimeout }
      : {}),
  };
}

/** A UUID-shaped digest of `parts`: stable for the same inputs, different otherwise. */
function stableUuid(parts: readonly string[]): string {
  // Loaded here, in pm2's app containers only: every other process is spared node:crypto.
  const { createHash } = createRequire(import.meta.url)(
    'node:crypto'
  ) as typeof Crypto;
  return uuidFromHex(
    createHash('sha1').update(parts.join('\0')).digest('hex'),
    5
  );
}

/**
 * Identity of a pm2 app process: `<base>-w<instance>`, where the base is the configured
 * service.instance.id or else a digest of host, PM2_HOME and app name. The same instance
 * number gets the same id after `pm2 reload`, `pm2 restart` and a daemon restart.
 */
export function pm2Identity(options: {
  pm2: Pm2Process;
  configuredId: string | undefined;
  clusterWorkerId: number | undefined;
  pid: number;
  ppid: number;
  host?: string;
}): ProcessIdentity {
  const { pm2, configuredId } = options;
  const base =
    configuredId ??
    stableUuid(['pm2', options.host ?? hostname(), pm2.home, pm2.name]);
  const instanceId = workerInstanceId(base, pm2.instance);
  const attributes: Record<string, string | number> = {
    'service.instance.id': instanceId,
    'process.pid': options.pid,
    'process.parent_pid': options.ppid,
    [ATTR_WORKER_SLOT]: pm2.instance,
    [ATTR_PM2_ID]: pm2.pmId,
  };
  if (options.clusterWorkerId !== undefined)
    attributes[ATTR_WORKER_ID] = options.clusterWorkerId;
  return configuredId === undefined
    ? { instanceId, attributes }
    : { instanceId, attributes, derivedFrom: configuredId };
}
