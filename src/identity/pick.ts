// Which identity a process that exports gets: a pm2 instance's, a cluster worker's or a
// standalone app's. Called by the preload once the role is known (src/preload/).
import type { Pm2Process, WorkerMarker } from '../config/types.ts';
import { pm2Identity } from './pm2.ts';
import {
  standaloneIdentity,
  workerIdentity,
  type ProcessIdentity,
} from './process-identity.ts';

/** What pickIdentity looks at; gathered by the preload. */
export interface IdentityFacts {
  /** A cluster worker (ours or any other), as opposed to a standalone app. */
  readonly isWorker: boolean;
  /** pm2's instance, when pm2's app container runs this process. */
  readonly pm2: Pm2Process | undefined;
  /** Our fork patch's marker, when it names this process's parent. */
  readonly marker: WorkerMarker | undefined;
  /** node:cluster's worker id; read only for a worker. */
  readonly clusterWorkerId: () => number | undefined;
  /** service.instance.id from the environment. */
  readonly configuredId: string | undefined;
}

/** The identity of this process. Never throws. */
export function pickIdentity(facts: IdentityFacts): ProcessIdentity {
  const ids = {
    configuredId: facts.configuredId,
    pid: process.pid,
    ppid: process.ppid,
  };
  // A pm2 app is keyed to pm2's instance number, in cluster and fork mode alike.
  if (facts.pm2) {
    return pm2Identity({
      pm2: facts.pm2,
      clusterWorkerId: facts.isWorker ? facts.clusterWorkerId() : undefined,
      ...ids,
    });
  }
  if (!facts.isWorker) return standaloneIdentity(ids);
  return workerIdentity({
    marker: facts.marker,
    clusterWorkerId: facts.clusterWorkerId(),
    ...ids,
  });
}
