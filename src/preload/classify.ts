// Pure classification of the current process, from facts gathered at preload time. A main-thread
// process that is not a cluster worker is 'undecided' until it forks (primary) or not (standalone).
import { basename } from 'node:path';

/** Package-manager and build-tool scripts that must stay dark under NODE_OPTIONS. */
export const DEFAULT_EXCLUDED_TOOLS: readonly string[] = [
  // Dev note: otel-launch run inside otel-launch inherits NODE_OPTIONS with the preload; the
  // inner launcher is a tool too, so only the app at the end of the chain exports.
  'otel-launch',
  'npm',
  'npx',
  'yarn',
  'pnpm',
  'pnpx',
  'corepack',
  'node-gyp',
  'tsc',
  // Supervisors: their own process stays dark, the app processes they start are instrumented
  // (pm2's app containers are told apart in classify.ts).
  'pm2',
  'pm2-runtime',
  'nodemon',
];

/** The roles of DESIGN.md; 'undecided' is the state before primary/standalone is known. */
export type ProcessRole =
  | 'disabled'
  | 'thread'
  | 'excluded'
  | 'worker'
  | 'primary'
  | 'standalone'
  | 'undecided';

/** What classifyProcess looks at; gathered by src/preload/dispatch.ts, passed in for testability. */
export interface RoleFacts {
  readonly disabled: boolean;
  readonly isMainThread: boolean;
  readonly isClusterWorker: boolean;
  /** Our fork patch's marker is present and names this process's parent. */
  readonly hasWorkerMarker: boolean;
  /** process.argv[1] and, when different, its real path. */
  readonly mainScripts: readonly string[];
  readonly exclude: readonly string[];
}

/** The classification and, for an excluded process, the tool it was recognised as. */
export interface Classification {
  readonly role: ProcessRole;
  readonly tool?: string;
}

const ALIASES: Record<string, string> = {
  'npm-cli': 'npm',
  'npx-cli': 'npx',
  'pnpm.cjs': 'pnpm',
  typescript: 'tsc',
};

/**
 * Candidate tool names for a script path: its basename without extension, and the package
 * it lives in (`…/node_modules/npm/bin/npm-cli.js` gives `npm-cli` and `npm`).
 */
export function toolNamesOf(script: string): string[] {
  const names = new Set<string>();
  const base = basename(script).replace(/\.(c|m)?js$/, '');
  names.add(ALIASES[base] ?? base);
  const match = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(
    script
  );
  const pkg = match?.[1];
  if (pkg !== undefined) names.add(ALIASES[pkg] ?? pkg);
  return [...names].map(n => n.toLowerCase());
}

// pm2's app containers (cluster and fork mode) load the app: they live in the pm2 package,
// which is otherwise a tool (CLI, daemon, pm2-runtime), so they are matched first.
const PM2_APP_CONTAINER =
  /[\\/]pm2[\\/]lib[\\/]ProcessContainer(?:Fork)?(?:Bun)?\.js$/;

/** True when `script` is pm2's wrapper that runs an app (not pm2 itself). */
export function isPm2AppContainer(script: string): boolean {
  return PM2_APP_CONTAINER.test(script);
}

/** Classifies the process; cheap and synchronous. */
export function classifyProcess(facts: RoleFacts): Classification {
  if (facts.disabled) return { role: 'disabled' };
  if (!facts.isMainThread) return { role: 'thread' };
  const isAppContainer = facts.mainScripts.some(isPm2AppContainer);
  for (const script of isAppContainer ? [] : facts.mainScripts) {
    const tool = toolNamesOf(script).find(n => facts.exclude.includes(n));
    if (tool !== undefined) return { role: 'excluded', tool };
  }
  if (facts.isClusterWorker || facts.hasWorkerMarker) return { role: 'worker' };
  return { role: 'undecided' };
}
