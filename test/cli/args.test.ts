// Unit tests of src/cli/args.ts and the child environment (src/cli/launch.ts): one flag per
// variable readConfig reads, the argv split at the command, Python spellings, --local=FILE,
// doctor, and NODE_OPTIONS gaining the preload once.
import assert from 'node:assert/strict';
import { describe as suite, test } from 'node:test';
import { DEPRECATED_VARS } from '../../src/config/config-file-var.ts';
import {
  CONFIG_VARS,
  PLATFORM_VARS,
  WORKER_MARKER_VARS,
} from '../../src/config/vars.ts';
import { readConfig } from '../../src/config/read-config.ts';
import {
  ENV_FLAGS,
  flagOf,
  parseLaunchArgs,
  splitArgv,
} from '../../src/cli/args.ts';
import {
  buildChildEnv,
  isOurPreload,
  PRELOAD_URL,
} from '../../src/cli/launch.ts';
import { localOverrides } from '../../src/cli/run-cli.ts';

suite('CONFIG_VARS and the flags', () => {
  test('readConfig reads exactly CONFIG_VARS (plus the fork markers)', () => {
    const seen = new Set<string>();
    const env = new Proxy(
      {},
      {
        get(_target, key) {
          if (typeof key === 'string') seen.add(key);
          return undefined;
        },
      }
    );
    readConfig(env);
    // Some variables are only read when another one selects them (a ratio sampler's argument).
    readConfig(
      new Proxy<Record<string, string>>(
        { OTEL_TRACES_SAMPLER: 'traceidratio' },
        {
          get(target, key): string | undefined {
            if (typeof key !== 'string') return undefined;
            seen.add(key);
            return target[key];
          },
        }
      )
    );
    const markers = new Set<string>([
      ...Object.values(WORKER_MARKER_VARS),
      ...PLATFORM_VARS,
      ...DEPRECATED_VARS,
    ]);
    assert.deepEqual(
      [...seen].filter(v => !markers.has(v)).sort(),
      [...CONFIG_VARS].sort()
    );
  });

  test('one flag per variable, named as Python does (OTEL_ dropped, dashes)', () => {
    assert.deepEqual(
      ENV_FLAGS.map(f => f.variable),
      CONFIG_VARS
    );
    assert.equal(flagOf('OTEL_SERVICE_NAME'), 'service-name');
    assert.equal(
      flagOf('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'),
      'exporter-otlp-traces-endpoint'
    );
    assert.equal(new Set(ENV_FLAGS.map(f => f.flag)).size, ENV_FLAGS.length);
  });

  test('every variable can be set by its flag, in both spellings', async () => {
    for (const { flag, variable } of ENV_FLAGS) {
      const python = flag.replace(/-/g, '_');
      for (const argv of [
        [`--${flag}`, 'v1', 'cmd'],
        [`--${python}=v1`, 'cmd'],
      ]) {
        const parsed = await parseLaunchArgs(argv);
        assert.deepEqual(parsed.env, { [variable]: 'v1' }, argv.join(' '));
        assert.equal(parsed.command, 'cmd');
      }
    }
  });

  test('flags are grouped by signal', () => {
    const group = (v: string): string | undefined =>
      ENV_FLAGS.find(f => f.variable === v)?.group;
    assert.equal(group('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), 'Traces:');
    assert.equal(group('OTEL_BSP_SCHEDULE_DELAY'), 'Traces:');
    assert.equal(group('OTEL_METRIC_EXPORT_INTERVAL'), 'Metrics:');
    assert.equal(group('OTEL_BLRP_MAX_QUEUE_SIZE'), 'Logs:');
    assert.match(group('OTEL_EXPORTER_OTLP_ENDPOINT') ?? '', /^OTLP exporter/);
    assert.equal(group('OTEL_SERVICE_NAME'), 'General:');
    assert.equal(group('OTEL_FORKSAFE_EXCLUDE'), 'otel-forksafe:');
  });
});

suite('parseLaunchArgs', () => {
  const cases: Array<{
    name: string;
    argv: string[];
    expect: Partial<Awaited<ReturnType<typeof parseLaunchArgs>>>;
  }> = [
    {
      name: 'the command and everything after it are the child’s',
      argv: [
        '--service-name',
        'a',
        'node',
        'app.js',
        '--help',
        '--service-name',
        'b',
        '1.0',
      ],
      expect: {
        mode: 'run',
        command: 'node',
        args: ['app.js', '--help', '--service-name', 'b', '1.0'],
        env: { OTEL_SERVICE_NAME: 'a' },
      },
    },
    {
      name: '-- ends our flags',
      argv: ['--log-level', 'debug', '--', '--weird-command', '-x'],
      expect: {
        command: '--weird-command',
        args: ['-x'],
        env: { OTEL_LOG_LEVEL: 'debug' },
      },
    },
    {
      name: 'the last of a repeated flag wins',
      argv: ['--service-name', 'a', '--service_name', 'b', 'x'],
      expect: { env: { OTEL_SERVICE_NAME: 'b' }, command: 'x' },
    },
    {
      name: '--local does not swallow the command',
      argv: ['--local', 'node', 'app.js'],
      expect: { local: { file: undefined }, command: 'node', args: ['app.js'] },
    },
    {
      name: '--local=FILE',
      argv: ['--local=out.jsonl', 'node', 'app.js'],
      expect: { local: { file: 'out.jsonl' }, command: 'node' },
    },
    {
      name: 'doctor in the command’s place is ours',
      argv: ['--exporter-otlp-endpoint', 'http://x:4317', 'doctor'],
      expect: {
        mode: 'doctor',
        command: undefined,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4317' },
      },
    },
    {
      name: 'after -- it is a program named doctor',
      argv: ['--', 'doctor', 'x'],
      expect: { mode: 'run', command: 'doctor', args: ['x'] },
    },
    {
      name: '--print-config',
      argv: ['--print-config'],
      expect: { mode: 'print-config' },
    },
    { name: '-h', argv: ['-h'], expect: { mode: 'help' } },
    { name: 'nothing', argv: [], expect: { mode: 'run', command: undefined } },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const parsed = await parseLaunchArgs(c.argv);
      for (const [k, v] of Object.entries(c.expect)) {
        assert.deepEqual(parsed[k as keyof typeof parsed], v, k);
      }
    });
  }

  test('usage errors reject', async () => {
    await assert.rejects(
      parseLaunchArgs(['--servce-name', 'x', 'node']),
      /servce-name/
    );
    await assert.rejects(parseLaunchArgs(['--service-name']), /service-name/);
  });

  test('splitArgv never looks past the command', () => {
    assert.deepEqual(
      splitArgv(['--local', 'a', '--local=x', '--service_name=y']),
      {
        flags: ['--local'],
        rest: ['a', '--local=x', '--service_name=y'],
        afterDashes: false,
      }
    );
  });
});

suite('buildChildEnv', () => {
  test('appends the preload to NODE_OPTIONS, after what was there', () => {
    const env = buildChildEnv(
      { NODE_OPTIONS: '--max-old-space-size=256', A: '1' },
      { B: '2' }
    );
    assert.equal(
      env.NODE_OPTIONS,
      `--max-old-space-size=256 --import=${PRELOAD_URL}`
    );
    assert.equal(env.A, '1');
    assert.equal(env.B, '2');
  });

  test('never twice: our URL, the package name or the register file path already there', () => {
    for (const existing of [
      `--import=${PRELOAD_URL}`,
      '--import otel-forksafe/register',
      `--require ${new URL(PRELOAD_URL).pathname.replace(/\.js$/, '.cjs')}`,
    ]) {
      assert.equal(
        buildChildEnv({ NODE_OPTIONS: existing }).NODE_OPTIONS,
        existing
      );
    }
    assert.equal(isOurPreload('./something-else.js'), false);
  });

  test('the source env is not modified', () => {
    const source = { NODE_OPTIONS: '--no-warnings' };
    buildChildEnv(source, { OTEL_SERVICE_NAME: 'x' });
    assert.deepEqual(source, { NODE_OPTIONS: '--no-warnings' });
  });
});

suite('localOverrides', () => {
  const endpoints = { grpc: 'http://127.0.0.1:1', http: 'http://127.0.0.1:2' };
  test('each signal points at the receiver in its own protocol', () => {
    assert.deepEqual(
      localOverrides(
        {
          OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
        },
        endpoints
      ),
      {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1',
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:2/v1/metrics',
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://127.0.0.1:1',
        OTEL_BSP_SCHEDULE_DELAY: '500',
      }
    );
  });
});
