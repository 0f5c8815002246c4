// The resource attributes that tell processes apart: service.instance.id, pid, parent pid,
// and for cluster workers the worker id and slot.
import { randomUuid } from './random-id.ts';
import type { WorkerMarker } from '../config/types.ts';

/** Attribute names for the cluster worker id and slot (no semantic convention exists). */
export const ATTR_WORKER_ID = 'nodejs.cluster.worker.id';
export const ATTR_WORKER_SLOT = 'nodejs.cluster.worker.slot';

/** Identity of one process. */
export interface ProcessIdentity {
  readonly instanceId: string;
  readonly attributes: Readonly<Record<string, string | number>>;
  /** Set when a configured service.instance.id was turned into a per-worker one. */
  readonly derivedFrom?: string;
}

/**
 * The per-worker service.instance.id: `<base>-w<slot>`. The base is the primary's configured
 * service.instance.id, or a UUID the primary drew at startup; the slot is the lowest free one,
 * so a replaced worker gets its predecessor's id back.
 */
export function workerInstanceId(base: string, slot: number): string {
  return `${base}-w${slot}`;
}

/** Identity of a cluster worker. `configuredId` is service.instance.id from the environment. */
export function workerIdentity(options: {
  marker: WorkerMarker | undefined;
  clusterWorkerId: number | undefined;
  configuredId: string | undefined;
  pid: number;
  ppid: number;
}): ProcessIdentity {
  const { marker, clusterWorkerId, configuredId } = options;
  const slot =
    marker?.slot ??
    (clusterWorkerId === undefined ? undefined : clusterWorkerId - 1);
  const base = marker?.instanceBase ?? configuredId ?? randomUuid();
  const instanceId =
    slot === undefined ? randomUuid() : workerInstanceId(base, slot);
  const attributes: Record<string, string | number> = {
    'service.instance.id': instanceId,
    'process.pid': options.pid,
    'process.parent_pid': options.ppid,
  };
  if (clusterWorkerId !== undefined)
    attributes[ATTR_WORKER_ID] = clusterWorkerId;
  if (slot !== undefined) attributes[ATTR_WORKER_SLOT] = slot;
  return configuredId === undefined
    ? { instanceId, attributes }
    : { instanceId, attributes, derivedFrom: configuredId };
}

/** Identity of a single-process app: the configured id as given, or a fresh UUID. */
export function standaloneIdentity(options: {
  configuredId: string | undefined;
  pid: number;
  ppid: number;
}): ProcessIdentity {
  const instanceId = options.configuredId ?? randomUuid();
  return {
    instanceId,
    attributes: {
      'service.instance.id': instanceId,
      'process.pid': options.pid,
      'process.parent_pid': options.ppid,
    },
  };
}
