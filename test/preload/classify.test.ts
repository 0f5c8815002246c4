// Unit tests of src/process-role.ts: one table of facts -> role (and tool, for excluded
// processes), covering precedence, package-manager and build-tool scripts, and workers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_EXCLUDED_TOOLS } from '../../src/preload/classify.ts';
import {
  classifyProcess,
  toolNamesOf,
  type Classification,
  type RoleFacts,
} from '../../src/preload/classify.ts';

/** A plain main-thread app with nothing special about it. */
const APP: RoleFacts = {
  disabled: false,
  isMainThread: true,
  isClusterWorker: false,
  hasWorkerMarker: false,
  mainScripts: ['/srv/app/server.js'],
  exclude: DEFAULT_EXCLUDED_TOOLS,
};

const cases: Array<{
  name: string;
  facts: Partial<RoleFacts>;
  expect: Classification;
}> = [
  {
    name: 'disabled wins over thread, tool and worker',
    facts: {
      disabled: true,
      isMainThread: false,
      isClusterWorker: true,
      hasWorkerMarker: true,
      mainScripts: ['/usr/local/bin/npm'],
    },
    expect: { role: 'disabled' },
  },
  {
    name: 'a worker thread',
    facts: { isMainThread: false },
    expect: { role: 'thread' },
  },
  {
    name: 'a worker thread of a cluster worker is still a thread',
    facts: { isMainThread: false, isClusterWorker: true },
    expect: { role: 'thread' },
  },
  {
    name: 'npm via its bin link',
    facts: { mainScripts: ['/usr/local/bin/npm'] },
    expect: { role: 'excluded', tool: 'npm' },
  },
  {
    name: 'npm via npm-cli.js',
    facts: { mainScripts: ['/usr/lib/node_modules/npm/bin/npm-cli.js'] },
    expect: { role: 'excluded', tool: 'npm' },
  },
  {
    name: 'npm: bin link plus its real path',
    facts: {
      mainScripts: [
        '/usr/local/bin/npm',
        '/usr/local/lib/node_modules/npm/bin/npm-cli.js',
      ],
    },
    expect: { role: 'excluded', tool: 'npm' },
  },
  {
    name: 'npx',
    facts: {
      mainScripts: [
        '/usr/local/bin/npx',
        '/usr/local/lib/node_modules/npm/bin/npx-cli.js',
      ],
    },
    expect: { role: 'excluded', tool: 'npx' },
  },
  {
    name: 'yarn',
    facts: { mainScripts: ['/usr/local/lib/node_modules/yarn/bin/yarn.js'] },
    expect: { role: 'excluded', tool: 'yarn' },
  },
  {
    name: 'pnpm via pnpm.cjs',
    facts: { mainScripts: ['/usr/local/lib/node_modules/pnpm/bin/pnpm.cjs'] },
    expect: { role: 'excluded', tool: 'pnpm' },
  },
  {
    name: 'corepack',
    facts: {
      mainScripts: ['/usr/local/lib/node_modules/corepack/dist/corepack.js'],
    },
    expect: { role: 'excluded', tool: 'corepack' },
  },
  {
    name: 'tsc from node_modules/typescript',
    facts: { mainScripts: ['/srv/app/node_modules/typescript/bin/tsc'] },
    expect: { role: 'excluded', tool: 'tsc' },
  },
  {
    name: 'node-gyp (bundled inside npm)',
    facts: {
      mainScripts: [
        '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
      ],
    },
    expect: { role: 'excluded', tool: 'node-gyp' },
  },
  {
    name: 'the pm2 CLI',
    facts: { mainScripts: ['/srv/app/node_modules/pm2/bin/pm2'] },
    expect: { role: 'excluded', tool: 'pm2' },
  },
  {
    name: "pm2's daemon (a cluster primary, but a tool)",
    facts: { mainScripts: ['/usr/lib/node_modules/pm2/lib/Daemon.js'] },
    expect: { role: 'excluded', tool: 'pm2' },
  },
  {
    name: 'pm2-runtime (runs the daemon in its own process)',
    facts: { mainScripts: ['/srv/app/node_modules/pm2/bin/pm2-runtime'] },
    expect: { role: 'excluded', tool: 'pm2-runtime' },
  },
  {
    name: "pm2's cluster-mode app container is a worker",
    facts: {
      isClusterWorker: true,
      mainScripts: ['/srv/app/node_modules/pm2/lib/ProcessContainer.js'],
    },
    expect: { role: 'worker' },
  },
  {
    name: "pm2's fork-mode app container is an app",
    facts: {
      mainScripts: ['/usr/lib/node_modules/pm2/lib/ProcessContainerFork.js'],
    },
    expect: { role: 'undecided' },
  },
  {
    name: 'nodemon (the app it restarts is a child process)',
    facts: { mainScripts: ['/srv/app/node_modules/nodemon/bin/nodemon.js'] },
    expect: { role: 'excluded', tool: 'nodemon' },
  },
  {
    name: 'an application script is not excluded',
    facts: { mainScripts: ['/srv/app/server.js'] },
    expect: { role: 'undecided' },
  },
  {
    name: 'an application under a directory named like a tool is not excluded',
    facts: { mainScripts: ['/home/dev/npm-mirror/server.js'] },
    expect: { role: 'undecided' },
  },
  {
    name: 'a custom exclude name (OTEL_FORKSAFE_EXCLUDE)',
    facts: {
      mainScripts: ['/opt/tools/bin/db-migrate.js'],
      exclude: [...DEFAULT_EXCLUDED_TOOLS, 'db-migrate'],
    },
    expect: { role: 'excluded', tool: 'db-migrate' },
  },
  {
    name: 'the custom name excludes nothing else',
    facts: {
      mainScripts: ['/srv/app/server.js'],
      exclude: [...DEFAULT_EXCLUDED_TOOLS, 'db-migrate'],
    },
    expect: { role: 'undecided' },
  },
  {
    name: 'a tool excluded even inside a cluster worker',
    facts: { isClusterWorker: true, mainScripts: ['/usr/local/bin/npm'] },
    expect: { role: 'excluded', tool: 'npm' },
  },
  {
    name: 'a cluster worker (cluster.isWorker)',
    facts: { isClusterWorker: true },
    expect: { role: 'worker' },
  },
  {
    name: 'a worker recognised by our marker alone',
    facts: { hasWorkerMarker: true },
    expect: { role: 'worker' },
  },
  {
    name: 'no main script at all (node -e, REPL)',
    facts: { mainScripts: [] },
    expect: { role: 'undecided' },
  },
  {
    name: 'otherwise undecided',
    facts: {},
    expect: { role: 'undecided' },
  },
];

describe('classifyProcess', () => {
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(classifyProcess({ ...APP, ...c.facts }), c.expect);
    });
  }
});

describe('toolNamesOf', () => {
  test('the basename without extension and the package it lives in', () => {
    assert.deepEqual(toolNamesOf('/usr/lib/node_modules/npm/bin/npm-cli.js'), [
      'npm',
    ]);
    assert.deepEqual(toolNamesOf('/x/node_modules/@scope/pkg/bin/run.mjs'), [
      'run',
      '@scope/pkg',
    ]);
    assert.deepEqual(toolNamesOf('/srv/app/Server.js'), ['server']);
  });
});
