// otel-launch end to end: the real CLI (dist/bin/otel-launch.js) spawned on fixture apps.
// Exit statuses and signal deaths pass through, signals are relayed, NODE_OPTIONS is kept and
// gains the preload once, flags beat the environment, tools stay dark, and --local reports
// every worker of a cluster and never its primary.
import assert from 'node:assert/strict';
import {
  cpSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe as suite, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { byPid, resourceValues, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  killAll,
  NODE,
  ROOT,
  runNode,
  startNode,
  unexpectedWarnings,
} from '../helpers/run-node.ts';

const LAUNCHER = join(ROOT, 'dist', 'bin', 'otel-launch.js');
const PRELOAD_URL = pathToFileURL(join(ROOT, 'dist', 'register.js')).href;

after(killAll);
const sink = useOtlpSink();

interface EnvLine {
  pid: number;
  argv: string[];
  NODE_OPTIONS: string | null;
  heapLimit: number;
  otel: Record<string, string>;
}

const envLineOf = (stdout: string): EnvLine => {
  const line = stdout.split('\n').find(l => l.startsWith('ENV '));
  assert.ok(line, `an ENV line in ${stdout}`);
  return JSON.parse(line.slice(4)) as EnvLine;
};

/** Environment that sends a child's spans to the test sink over gRPC, quickly. */
const toSink = (): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
  OTEL_BSP_SCHEDULE_DELAY: '100',
});

suite('otel-launch: exit status and signals', () => {
  const cases: Array<{
    name: string;
    args: string[];
    code: number | null;
    signal: NodeJS.Signals | null;
  }> = [
    {
      name: 'exit 3 → 3',
      args: ['node', fixture('exit-with.cjs'), '3'],
      code: 3,
      signal: null,
    },
    {
      name: 'exit 0 → 0',
      args: ['node', fixture('exit-with.cjs'), '0'],
      code: 0,
      signal: null,
    },
    {
      name: 'a shell command: exit 3 → 3',
      args: ['sh', '-c', 'exit 3'],
      code: 3,
      signal: null,
    },
    {
      name: 'a child that dies of SIGTERM → the launcher dies of SIGTERM',
      args: ['node', '-e', "process.kill(process.pid, 'SIGTERM')"],
      code: null,
      signal: 'SIGTERM',
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const run = await runNode(LAUNCHER, { args: c.args });
      assert.deepEqual(
        { code: run.code, signal: run.signal },
        { code: c.code, signal: c.signal },
        describe(run)
      );
      assert.deepEqual(unexpectedWarnings(run.stderr), [], describe(run));
    });
  }

  test('a missing command → 127 and one line', async () => {
    const run = await runNode(LAUNCHER, { args: ['no-such-command-xyz', 'a'] });
    assert.equal(run.code, 127, describe(run));
    assert.equal(
      run.stderr,
      'otel-launch: command not found: no-such-command-xyz\n',
      describe(run)
    );
  });

  test('SIGTERM to the launcher reaches the child; both die of it', async () => {
    const run = startNode(LAUNCHER, {
      args: ['node', fixture('forever.cjs')],
    });
    const childPid = Number(await run.waitForLine('READY'));
    assert.notEqual(childPid, run.pid);
    process.kill(run.pid, 'SIGTERM');
    const { code, signal } = await run.exited;
    assert.deepEqual({ code, signal }, { code: null, signal: 'SIGTERM' });
    assert.throws(() => process.kill(childPid, 0), { code: 'ESRCH' });
  });

  test('SIGINT, SIGHUP, SIGUSR2 and SIGTERM are relayed to a child that handles them', async () => {
    const run = startNode(LAUNCHER, {
      args: ['node', fixture('forever.cjs'), 'trap'],
    });
    await run.waitForLine('READY');
    for (const signal of ['SIGINT', 'SIGHUP', 'SIGUSR2', 'SIGTERM'] as const) {
      process.kill(run.pid, signal);
      await run.waitForLine(`GOT ${signal}`);
    }
    const { code, signal } = await run.exited;
    // The child handled SIGTERM and exited 7: the launcher exits 7, not of the signal.
    assert.deepEqual(
      { code, signal },
      { code: 7, signal: null },
      describe(run)
    );
  });
});

suite('otel-launch: the child environment', () => {
  test('an existing NODE_OPTIONS survives; the preload is appended once, by file URL', async () => {
    const run = await runNode(LAUNCHER, {
      args: ['node', fixture('print-env.cjs')],
      env: { ...toSink(), NODE_OPTIONS: '--max-old-space-size=256' },
    });
    assert.equal(run.code, 0, describe(run));
    const env = envLineOf(run.stdout);
    assert.equal(
      env.NODE_OPTIONS,
      `--max-old-space-size=256 --import=${PRELOAD_URL}`
    );
    // The user's option still works: the heap is limited to 256 MiB of old space (plus young
    // space), far below Node's default of several GiB.
    assert.ok(env.heapLimit < 512 * 1024 * 1024, `heap ${env.heapLimit}`);
    await sink().waitFor(() => byPid(sink().spans()).has(env.pid), {
      what: 'the span of print-env.cjs',
    });
  });

  test('arguments after the command reach it untouched, --help included', async () => {
    const args = ['--help', '--service-name', 'x', '--', '-e', '1.0'];
    const run = await runNode(LAUNCHER, {
      args: ['node', fixture('print-env.cjs'), ...args],
    });
    assert.equal(run.code, 0, describe(run));
    assert.deepEqual(envLineOf(run.stdout).argv, args);
    assert.doesNotMatch(run.stdout, /Usage:/);
  });

  test('flags beat the environment, in both spellings', async () => {
    const run = await runNode(LAUNCHER, {
      args: [
        '--service_name',
        'from-flag',
        '--exporter-otlp-traces-timeout=4321',
        '--bsp_schedule_delay=50',
        'node',
        fixture('print-env.cjs'),
      ],
      env: {
        ...toSink(),
        OTEL_SERVICE_NAME: 'from-env',
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '1234',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
      },
    });
    assert.equal(run.code, 0, describe(run));
    const env = envLineOf(run.stdout);
    assert.equal(env.otel.OTEL_SERVICE_NAME, 'from-flag');
    assert.equal(env.otel.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, '4321');
    assert.equal(env.otel.OTEL_BSP_SCHEDULE_DELAY, '50');
    // What the flags did not set comes from the environment.
    assert.equal(
      env.otel.OTEL_RESOURCE_ATTRIBUTES,
      'deployment.environment=test'
    );
    await sink().waitFor(() => byPid(sink().spans()).has(env.pid), {
      what: 'the span of print-env.cjs',
    });
    const spans = byPid(sink().spans()).get(env.pid) ?? [];
    assert.deepEqual(
      resourceValues(spans, 'service.name'),
      new Set(['from-flag'])
    );
  });

  test('an unknown flag: status 2 and a did-you-mean line', async () => {
    const run = await runNode(LAUNCHER, {
      args: ['--servce-name', 'x', 'node', fixture('exit-with.cjs')],
    });
    assert.equal(run.code, 2, describe(run));
    assert.match(
      run.stderr,
      /^otel-launch: unknown flag --servce-name \(did you mean --service-name\?\)/
    );
  });

  test('otel-launch inside otel-launch: one preload in NODE_OPTIONS, one SDK, only the app exports', async () => {
    const run = await runNode(LAUNCHER, {
      args: ['node', LAUNCHER, 'node', fixture('print-env.cjs')],
      env: { ...toSink(), OTEL_LOG_LEVEL: 'debug' },
    });
    assert.equal(run.code, 0, describe(run));
    const env = envLineOf(run.stdout);
    assert.equal(env.NODE_OPTIONS, `--import=${PRELOAD_URL}`);
    const lines = forksafeLines(run.stderr);
    assert.equal(
      lines.filter(l => l.includes('SDK started')).length,
      1,
      describe(run)
    );
    assert.equal(
      lines.filter(l => / role excluded \(otel-launch\) /.test(l)).length,
      1,
      'the inner launcher is recognised as a tool'
    );
    await sink().waitFor(() => byPid(sink().spans()).has(env.pid), {
      what: 'the span of print-env.cjs',
    });
    const inner = sink()
      .spans()
      .filter(s =>
        String(s.resource['process.command_args']).includes('otel-launch')
      );
    assert.deepEqual(inner, [], 'no span from a launcher');
  });

  test('a package path with spaces: the preload still loads in the child', async t => {
    const dir = mkdtempSync(join(tmpdir(), 'otel launch '));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const run = await runNode(join(dir, 'dist', 'bin', 'otel-launch.js'), {
      args: ['node', fixture('print-env.cjs')],
      env: { ...toSink(), NODE_OPTIONS: '--no-deprecation' },
    });
    assert.equal(run.code, 0, describe(run));
    const env = envLineOf(run.stdout);
    const url = pathToFileURL(join(dir, 'dist', 'register.js')).href;
    assert.match(url, /%20/);
    assert.equal(env.NODE_OPTIONS, `--no-deprecation --import=${url}`);
    await sink().waitFor(() => byPid(sink().spans()).has(env.pid), {
      what: 'the span of print-env.cjs',
    });
  });
});

suite('otel-launch: tools stay dark', () => {
  test('otel-launch npm start: the app exports, npm does not', async () => {
    const run = await runNode(LAUNCHER, {
      args: ['npm', '--prefix', fixture('npm-app'), 'start'],
      env: {
        ...toSink(),
        OTEL_LOG_LEVEL: 'debug',
        npm_config_update_notifier: 'false',
        npm_config_fund: 'false',
        npm_config_audit: 'false',
      },
      timeoutMs: 60000,
    });
    assert.equal(run.code, 0, describe(run));
    const app = JSON.parse(
      run.stdout
        .split('\n')
        .find(l => l.startsWith('APP '))
        ?.slice(4) ?? '{}'
    ) as { pid: number };
    await sink().waitFor(
      () => (byPid(sink().spans()).get(app.pid)?.length ?? 0) >= 6,
      { what: "the app's 3 server and 3 client spans", timeoutMs: 10000 }
    );
    const lines = forksafeLines(run.stderr);
    const npmLine = lines.find(l => / role excluded \(npm\) /.test(l));
    assert.ok(npmLine, `npm is recognised as a tool\n${describe(run)}`);
    const npmPid = Number(/ pid (\d+) /.exec(npmLine)?.[1]);
    assert.notEqual(npmPid, app.pid);
    assert.ok(!byPid(sink().spans()).has(npmPid), 'no span from npm');
    assert.ok(!byPid(sink().metrics()).has(npmPid), 'no metric from npm');
    assert.equal(
      lines.filter(l => l.includes('SDK started')).length,
      1,
      'one SDK: the app'
    );
  });

  test('OTEL_FORKSAFE_EXCLUDE (or --forksafe-exclude) keeps a named script dark', async () => {
    const run = await runNode(LAUNCHER, {
      args: [
        '--forksafe-exclude',
        'print-env',
        'node',
        fixture('print-env.cjs'),
      ],
      env: { OTEL_LOG_LEVEL: 'debug' },
    });
    assert.equal(run.code, 0, describe(run));
    assert.match(run.stderr, / role excluded \(print-env\) /);
    assert.doesNotMatch(run.stderr, /SDK started/);
  });
});

suite('otel-launch --local', () => {
  interface Row {
    role: string;
    pid: number;
    id: string;
    spans: number;
    points: number;
    logs: number;
  }
  const rowsOf = (stderr: string): Row[] => {
    const lines = stderr.split('\n');
    const start = lines.findIndex(l => l.startsWith('role '));
    assert.ok(start >= 0, `a table in\n${stderr}`);
    const rows: Row[] = [];
    for (const line of lines.slice(start + 1)) {
      const cells = line.trim().split(/\s+/);
      if (cells[0] !== 'worker' && cells[0] !== 'standalone') break;
      rows.push({
        role: cells[0],
        pid: Number(cells[1]),
        id: cells[2] ?? '',
        spans: Number(cells[3]),
        points: Number(cells[4]),
        logs: Number(cells[5]),
      });
    }
    return rows;
  };

  for (const protocol of ['grpc', 'http/protobuf', 'http/json'] as const) {
    test(`a 4-worker cluster (${protocol}): 4 worker rows with spans and metrics, no primary`, async t => {
      const dir = mkdtempSync(join(tmpdir(), 'otel-launch-local-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'received.jsonl');
      const run = await runNode(LAUNCHER, {
        args: [
          `--local=${file}`,
          '--exporter-otlp-protocol',
          protocol,
          'node',
          fixture('cluster-serve-and-exit.cjs'),
          '4',
          '40',
        ],
        // The test sink's endpoint must lose to --local.
        env: { ...toSink(), OTEL_METRICS_EXPORTER: 'otlp' },
        timeoutMs: 60000,
      });
      assert.equal(run.code, 0, describe(run));
      const done = JSON.parse(
        run.stdout
          .split('\n')
          .find(l => l.startsWith('DONE '))
          ?.slice(5) ?? '{}'
      ) as { primary: number; workers: number[] };
      const rows = rowsOf(run.stderr);
      assert.equal(rows.length, 4, describe(run));
      assert.deepEqual(
        rows.map(r => r.pid).sort(),
        [...done.workers].sort(),
        'one row per worker'
      );
      for (const row of rows) {
        assert.equal(row.role, 'worker');
        assert.ok(row.spans > 0 && row.points > 0, JSON.stringify(row));
      }
      assert.deepEqual(rows.map(r => r.id.replace(/.*-w/, 'w')).sort(), [
        'w0',
        'w1',
        'w2',
        'w3',
      ]);
      assert.ok(!rows.some(r => r.pid === done.primary), 'no primary row');
      // The file holds the same requests as OTLP/JSON lines.
      const requests = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map(l => JSON.parse(l) as Record<string, unknown>);
      const pids = new Set<number>();
      for (const r of requests) {
        for (const key of [
          'resourceSpans',
          'resourceMetrics',
          'resourceLogs',
        ]) {
          for (const entry of (r[key] ?? []) as Array<{
            resource: {
              attributes: Array<{ key: string; value: { intValue?: string } }>;
            };
          }>) {
            const pid = entry.resource.attributes.find(
              a => a.key === 'process.pid'
            );
            pids.add(Number(pid?.value.intValue));
          }
        }
      }
      assert.deepEqual([...pids].sort(), [...done.workers].sort());
      // Nothing leaked to the sink the environment named.
      assert.ok(
        done.workers.every(pid => !byPid(sink().spans()).has(pid)),
        'the environment endpoint is overridden'
      );
    });
  }

  test('exit status passes through --local too', async () => {
    const run = await runNode(LAUNCHER, {
      args: ['--local', 'node', fixture('exit-with.cjs'), '3'],
    });
    assert.equal(run.code, 3, describe(run));
    assert.match(run.stderr, /\(nothing arrived\)/);
  });

  test('the launcher itself exports nothing and starts no SDK', async () => {
    const run = await runNode(LAUNCHER, {
      args: ['--local', '--log-level', 'debug', NODE, fixture('exit-with.cjs')],
      env: { OTEL_LOG_LEVEL: 'debug' },
    });
    assert.equal(run.code, 0, describe(run));
    // exit-with.cjs records nothing, and the launcher's own pid never shows up.
    assert.doesNotMatch(run.stderr, new RegExp(`\\[${run.pid} `));
    assert.match(run.stderr, /\(nothing arrived\)/);
  });
});
