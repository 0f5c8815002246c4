// The V8 code cache of our bundles (src/code-cache.ts): a worker writes it, the next worker
// loads both bundles from it and still exports; a damaged cache is rejected and rewritten; a
// directory others can write to, or OTEL_FORKSAFE_CODE_CACHE=false, means no cache at all.
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CACHE_WRITE_DELAY_MS,
  STALE_CACHE_MS,
} from '../../src/loading/code-cache.ts';
import { byPid, useOtlpSink } from '../helpers/otlp-sink.ts';
import {
  describe,
  fixture,
  forksafeLines,
  hammer,
  killAll,
  startNode,
} from '../helpers/run-node.ts';

after(killAll);
const sink = useOtlpSink();
const scratch = mkdtempSync(join(tmpdir(), 'forksafe-cc-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const BUNDLES = ['otel-deps.bundle.cjs', 'sdk.bundle.cjs'] as const;

/** The names in `dir`, none when it does not exist (yet). */
const filesIn = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

const cacheFiles = (dir: string): string[] =>
  filesIn(dir)
    .filter(f => f.endsWith('.v8cache'))
    .sort();

/** The files of this Node's build of our two bundles. */
const ours = (files: string[]): string[] =>
  files.filter(
    f =>
      f.includes(`-${process.version}-`) &&
      BUNDLES.some(b => f.startsWith(`${b}-`))
  );

/** Polls `predicate` (the sink's poller: nothing here depends on what the sink received). */
const until = (what: string, predicate: () => boolean): Promise<void> =>
  sink().waitFor(predicate, { what, timeoutMs: 10_000 });

interface Run {
  /** `code cache: <outcome>` per bundle, from the worker's debug lines. */
  outcomes: Record<string, string>;
  spans: number;
}

/**
 * One cluster worker under the preload with OTEL_FORKSAFE_CODE_CACHE=`setting`; `whileUp` runs
 * after 5 requests, before the cluster is stopped.
 */
async function runWorker(
  setting: string,
  whileUp: () => Promise<void> = () => Promise.resolve(),
  extraEnv: Record<string, string> = {}
): Promise<Run> {
  sink().clear();
  const app = startNode(fixture('cluster-app.cjs'), {
    nodeArgs: ['--import', 'otel-forksafe/register'],
    args: ['1'],
    env: {
      OTEL_FORKSAFE_CODE_CACHE: setting,
      OTEL_EXPORTER_OTLP_ENDPOINT: sink().grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_LOG_LEVEL: 'debug',
      ...extraEnv,
    },
  });
  const ready = JSON.parse(await app.waitForLine('READY')) as {
    port: number;
    workers: number[];
  };
  assert.equal(await hammer(ready.port, 5), 5);
  await whileUp();
  app.send('stop');
  const { code } = await app.exited;
  assert.equal(code, 0, describe(app));
  const worker = ready.workers[0]!;
  await sink().waitFor(
    () =>
      (byPid(sink().spans()).get(worker) ?? []).filter(s => s.kind === 2)
        .length >= 5,
    { what: `5 server spans from worker ${worker}` }
  );
  const outcomes: Record<string, string> = {};
  for (const line of forksafeLines(app.stderr)) {
    const m =
      /\[(\d+) worker\] debug: loaded (\S+) \(code cache: ([a-z-]+)\)/.exec(
        line
      );
    if (m && Number(m[1]) === worker) outcomes[m[2]!] = m[3]!;
  }
  return {
    outcomes,
    spans: (byPid(sink().spans()).get(worker) ?? []).length,
  };
}

test('a worker writes the cache; the next worker loads both bundles from it and exports', async () => {
  const dir = join(scratch, 'fresh');
  mkdirSync(dir, { mode: 0o700 });
  // Files of other builds: removed once they are older than a day, kept before.
  const old = 'sdk.bundle.cjs-1-1-v0.0.0-x64-0000000000.v8cache';
  const recent = 'sdk.bundle.cjs-2-2-v0.0.0-x64-0000000000.v8cache';
  writeFileSync(join(dir, old), 'old');
  writeFileSync(join(dir, recent), 'recent');
  const twoDaysAgo = (Date.now() - 2 * STALE_CACHE_MS) / 1000;
  utimesSync(join(dir, old), twoDaysAgo, twoDaysAgo);
  const first = await runWorker(dir, () =>
    until('both cache files, the stale one gone', () => {
      const now = cacheFiles(dir);
      return ours(now).length === 2 && !now.includes(old);
    })
  );
  assert.ok(cacheFiles(dir).includes(recent), 'a recent one is kept');
  rmSync(join(dir, recent));
  assert.deepEqual(first.outcomes, {
    'otel-deps.bundle.cjs': 'miss',
    'sdk.bundle.cjs': 'miss',
  });
  const files = cacheFiles(dir);
  for (const [i, bundle] of BUNDLES.entries()) {
    assert.ok(files[i]!.startsWith(`${bundle}-`), files[i]);
    assert.ok(files[i]!.includes(process.version), files[i]);
    // Only this user may read or replace what it will run.
    assert.equal(statSync(join(dir, files[i]!)).mode & 0o077, 0);
  }
  assert.equal(statSync(dir).mode & 0o077, 0);

  // Over http/protobuf this time: its transport's import('http') runs from the cached code.
  const second = await runWorker(dir, undefined, {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink().httpEndpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  });
  assert.deepEqual(second.outcomes, {
    'otel-deps.bundle.cjs': 'hit',
    'sdk.bundle.cjs': 'hit',
  });
  assert.ok(second.spans >= 5);
  // A hit writes nothing: still the same two files.
  assert.deepEqual(cacheFiles(dir), files);
});

test('a damaged cache is rejected and rewritten; the worker exports all the same', async () => {
  const dir = join(scratch, 'damaged');
  await runWorker(dir, () =>
    until('both cache files', () => ours(cacheFiles(dir)).length === 2)
  );
  const garbage = Buffer.alloc(4096, 0x5a);
  for (const f of cacheFiles(dir)) writeFileSync(join(dir, f), garbage);
  const run = await runWorker(dir, () =>
    until('the cache rewritten', () =>
      cacheFiles(dir).every(f => !readFileSync(join(dir, f)).equals(garbage))
    )
  );
  assert.deepEqual(run.outcomes, {
    'otel-deps.bundle.cjs': 'rejected',
    'sdk.bundle.cjs': 'rejected',
  });
  assert.ok(run.spans >= 5);
});

test('a directory others can write to is never used, nor is any with OTEL_FORKSAFE_CODE_CACHE=false or --enable-source-maps', async () => {
  const open = join(scratch, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  // Longer than the write delay: a cache would have been written by now.
  const outlive = (): Promise<void> => sleep(CACHE_WRITE_DELAY_MS + 500);
  const unsafe = await runWorker(open, outlive);
  assert.deepEqual(unsafe.outcomes, {
    'otel-deps.bundle.cjs': 'unsafe-dir',
    'sdk.bundle.cjs': 'unsafe-dir',
  });
  assert.deepEqual(cacheFiles(open), []);

  // `false` turns it off whatever the default directory holds.
  const off = await runWorker('false', outlive);
  assert.deepEqual(off.outcomes, {
    'otel-deps.bundle.cjs': 'off',
    'sdk.bundle.cjs': 'off',
  });
  assert.ok(off.spans >= 5);

  // Stack traces mapped by --enable-source-maps: Node maps only code it loads itself.
  const mapped = await runWorker(join(scratch, 'mapped'), outlive, {
    NODE_OPTIONS: '--enable-source-maps',
  });
  assert.deepEqual(mapped.outcomes, {
    'otel-deps.bundle.cjs': 'source-maps',
    'sdk.bundle.cjs': 'source-maps',
  });
  assert.deepEqual(cacheFiles(join(scratch, 'mapped')), []);
  assert.ok(mapped.spans >= 5);
});

test("Node's own compile cache, when on, is left to cover our bundles", async t => {
  if (
    typeof (Module as { getCompileCacheDir?: unknown }).getCompileCacheDir !==
    'function'
  ) {
    t.skip(`no NODE_COMPILE_CACHE in Node ${process.version}`);
    return;
  }
  const ours = join(scratch, 'ours');
  const nodes = join(scratch, 'node-compile-cache');
  const run = await runWorker(
    ours,
    () => until("Node's cache", () => filesIn(nodes).length > 0),
    { NODE_COMPILE_CACHE: nodes }
  );
  assert.deepEqual(run.outcomes, {
    'otel-deps.bundle.cjs': 'node-compile-cache',
    'sdk.bundle.cjs': 'node-compile-cache',
  });
  assert.deepEqual(cacheFiles(ours), []);
});
