// A process's identity when its OTEL_CONFIG_FILE sets service.instance.id. Called by
// src/preload/export-here.ts once the SDK bundle has read the file.
import {
  ATTR_WORKER_SLOT,
  workerInstanceId,
  type ProcessIdentity,
} from './process-identity.ts';

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
