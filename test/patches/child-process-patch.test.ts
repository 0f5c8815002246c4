// Unit tests of src/child-process-patch.ts (where the options go in each call shape, what the
// child's env gets) and src/env-context.ts (the process root context), on stub functions.
import assert from 'node:assert/strict';
import type * as ChildProcessModule from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  CHILD_PROCESS_METHODS,
  patchChildProcess,
} from '../../src/patches/child-process.ts';
import { ProcessRootContextManager } from '../../src/sdk/env-context-manager.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;
const PRELOAD = 'file:///opt/forksafe/dist/register.js';
const inSpan: Context = trace.setSpanContext(ROOT_CONTEXT, {
  traceId: TRACE_ID,
  spanId: SPAN_ID,
  traceFlags: TraceFlags.SAMPLED,
});

type Call = { method: string; args: unknown[] };

/** A stand-in child_process whose functions record their arguments. */
function fakeChildProcess(calls: Call[]): typeof ChildProcessModule {
  const fake: Record<string, unknown> = {};
  for (const method of CHILD_PROCESS_METHODS) {
    const fn = (...args: unknown[]): unknown => {
      calls.push({ method, args });
      const callback = args.find(a => typeof a === 'function') as
        ((err: null, stdout: string, stderr: string) => void) | undefined;
      callback?.(null, 'out', 'err');
      return { method };
    };
    if (method === 'exec' || method === 'execFile') {
      Object.defineProperty(fn, promisify.custom, { value: () => 'original' });
    }
    fake[method] = fn;
  }
  return fake as unknown as typeof ChildProcessModule;
}

const manager = new ProcessRootContextManager();
before(() => {
  context.setGlobalContextManager(manager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
after(() => {
  context.disable();
  propagation.disable();
});

function patched(): { cp: typeof ChildProcessModule; calls: Call[] } {
  const calls: Call[] = [];
  const cp = fakeChildProcess(calls);
  patchChildProcess(cp, {
    preloadUrl: PRELOAD,
    isOurPreload: s => s === PRELOAD || s === 'otel-forksafe/register',
  });
  return { cp, calls };
}

type Env = Record<string, string | undefined>;
const envOf = (value: unknown): Env =>
  (value as { env?: Env } | undefined)?.env ?? {};

describe('patchChildProcess: where the options go', () => {
  const cb = (): void => {};
  const cases: Array<{
    name: string;
    call: (cp: typeof ChildProcessModule) => unknown;
    optionsAt: number;
    length: number;
  }> = [
    { name: 'spawn(cmd)', call: cp => cp.spawn('ls'), optionsAt: 1, length: 2 },
    {
      name: 'spawn(cmd, args)',
      call: cp => cp.spawn('ls', ['-l']),
      optionsAt: 2,
      length: 3,
    },
    {
      name: 'spawn(cmd, options)',
      call: cp => cp.spawn('ls', { cwd: '/' }),
      optionsAt: 1,
      length: 2,
    },
    {
      name: 'fork(path, undefined, options)',
      call: cp => cp.fork('x.js', undefined, { cwd: '/' }),
      optionsAt: 2,
      length: 3,
    },
    {
      name: 'exec(cmd, callback)',
      call: cp => cp.exec('ls', cb),
      optionsAt: 1,
      length: 3,
    },
    {
      name: 'exec(cmd, options, callback)',
      call: cp => cp.exec('ls', { cwd: '/' }, cb),
      optionsAt: 1,
      length: 3,
    },
    {
      name: 'execFile(file, args, callback)',
      call: cp => cp.execFile('ls', ['-l'], cb),
      optionsAt: 2,
      length: 4,
    },
    {
      name: 'execFile(file, null, callback)',
      call: cp => (cp.execFile as (...a: unknown[]) => unknown)('ls', null, cb),
      optionsAt: 2,
      length: 4,
    },
    {
      name: 'execSync(cmd)',
      call: cp => cp.execSync('ls'),
      optionsAt: 1,
      length: 2,
    },
    {
      name: 'spawnSync(cmd, args, options)',
      call: cp => cp.spawnSync('ls', [], { cwd: '/' }),
      optionsAt: 2,
      length: 3,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { cp, calls } = patched();
      context.with(inSpan, () => c.call(cp));
      const args = calls[0]?.args ?? [];
      assert.equal(args.length, c.length);
      const options = args[c.optionsAt] as { cwd?: string; env?: Env };
      assert.equal(envOf(options).TRACEPARENT, TRACEPARENT);
      assert.match(envOf(options).NODE_OPTIONS ?? '', /--import=file:/);
      if (c.name.includes('options')) assert.equal(options.cwd, '/');
      const last = args[args.length - 1];
      if (c.name.includes('callback')) assert.equal(typeof last, 'function');
    });
  }
});

describe('patchChildProcess: the child environment', () => {
  test('no active span: no TRACEPARENT, the preload still added', () => {
    const { cp, calls } = patched();
    cp.spawn('node', ['x.js'], { env: { PATH: '/bin' } });
    const env = envOf(calls[0]?.args[2]);
    assert.equal(env.TRACEPARENT, undefined);
    assert.equal(env.PATH, '/bin');
    assert.equal(env.NODE_OPTIONS, `--import=${PRELOAD}`);
  });

  test('a TRACEPARENT the caller set is kept; the caller object is not mutated', () => {
    const { cp, calls } = patched();
    const given = {
      env: { TRACEPARENT: 'mine', NODE_OPTIONS: '--max-old-space-size=64' },
    };
    context.with(inSpan, () => cp.spawn('node', [], given));
    const env = envOf(calls[0]?.args[2]);
    assert.equal(env.TRACEPARENT, 'mine');
    assert.equal(
      env.NODE_OPTIONS,
      `--max-old-space-size=64 --import=${PRELOAD}`
    );
    assert.deepEqual(given.env, {
      TRACEPARENT: 'mine',
      NODE_OPTIONS: '--max-old-space-size=64',
    });
  });

  test('an inherited TRACEPARENT copied into options.env is replaced, a stale TRACESTATE dropped', () => {
    const { cp, calls } = patched();
    const own = { TRACEPARENT: 'inherited', TRACESTATE: 'old=1' };
    const saved = { ...process.env };
    Object.assign(process.env, own);
    try {
      context.with(inSpan, () =>
        cp.spawn('node', [], { env: { ...process.env } })
      );
    } finally {
      for (const k of Object.keys(own)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const env = envOf(calls[0]?.args[2]);
    assert.equal(env.TRACEPARENT, TRACEPARENT);
    assert.equal(env.TRACESTATE, undefined);
  });

  test('fork() whose execArgv carries the preload leaves NODE_OPTIONS alone', () => {
    const { cp, calls } = patched();
    cp.fork('x.js', [], {
      execArgv: ['--import', 'otel-forksafe/register'],
      env: { NODE_OPTIONS: '' },
    });
    assert.equal(envOf(calls[0]?.args[2]).NODE_OPTIONS, '');
  });

  test('promisify(exec) goes through the wrapper and resolves {stdout, stderr}', async () => {
    const { cp, calls } = patched();
    const result = await context.with(inSpan, () => promisify(cp.exec)('ls'));
    assert.deepEqual(result, { stdout: 'out', stderr: 'err' });
    assert.equal(envOf(calls[0]?.args[1]).TRACEPARENT, TRACEPARENT);
  });

  test('patching twice wraps once; the undo restores the originals', () => {
    const calls: Call[] = [];
    const cp = fakeChildProcess(calls);
    const original = cp.spawn;
    const options = { preloadUrl: PRELOAD, isOurPreload: () => false };
    const undo = patchChildProcess(cp, options);
    const wrapped = cp.spawn;
    patchChildProcess(cp, options);
    assert.equal(cp.spawn, wrapped);
    undo();
    assert.equal(cp.spawn, original);
  });
});

describe('ProcessRootContextManager', () => {
  test('outside any context the root is active; an explicit ROOT_CONTEXT still means none', () => {
    assert.equal(context.active(), ROOT_CONTEXT);
    manager.setRoot(inSpan);
    try {
      assert.equal(trace.getSpanContext(context.active())?.spanId, SPAN_ID);
      context.with(ROOT_CONTEXT, () => {
        assert.equal(trace.getSpanContext(context.active()), undefined);
      });
      const other = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: TRACE_ID,
        spanId: '1111111111111111',
        traceFlags: TraceFlags.SAMPLED,
      });
      context.with(other, () => {
        assert.equal(
          trace.getSpanContext(context.active())?.spanId,
          '1111111111111111'
        );
      });
    } finally {
      manager.setRoot(ROOT_CONTEXT);
    }
  });
});
