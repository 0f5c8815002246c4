// Checks src/instrumentation-table.ts against the installed auto-instrumentations-node: the
// same packages, each exporting the named class, each hooking exactly the listed modules.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import {
  INSTRUMENTATION_NAMES,
  INSTRUMENTATIONS,
} from '../../src/instrumentation/table.ts';

const require = createRequire(import.meta.url);
const AUTO = '@opentelemetry/auto-instrumentations-node';

// Its exports map hides package.json: walk up from the entry point to find it.
function findPackageJson(): string {
  for (let dir = dirname(require.resolve(AUTO)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (
      existsSync(candidate) &&
      (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown })
        .name === AUTO
    ) {
      return candidate;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json for ${AUTO}`);
  }
}
const autoPackageJson = findPackageJson();
// The instrumentation packages are dependencies of auto-instrumentations-node: resolve them
// from there, as src/instrumentations.ts does.
const fromAuto = createRequire(autoPackageJson);

type InstrumentationClass = new (config?: object) => Instrumentation & {
  getModuleDefinitions(): Array<{ name: string }>;
};

describe('instrumentation table', () => {
  test('lists exactly the instrumentation dependencies of auto-instrumentations-node', () => {
    const pkg = JSON.parse(readFileSync(autoPackageJson, 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    const expected = new Set(
      Object.keys(pkg.dependencies ?? {}).filter(d =>
        d.startsWith('@opentelemetry/instrumentation-')
      )
    );
    assert.ok(expected.size > 30, `found ${expected.size} packages`);
    assert.deepEqual(new Set(INSTRUMENTATIONS.map(e => e.pkg)), expected);
  });

  test('short names are unique and match the package names', () => {
    assert.equal(new Set(INSTRUMENTATION_NAMES).size, INSTRUMENTATIONS.length);
    for (const e of INSTRUMENTATIONS) {
      assert.equal(e.pkg, `@opentelemetry/instrumentation-${e.name}`);
    }
  });

  for (const entry of INSTRUMENTATIONS) {
    test(`${entry.name}: exports ${entry.className} hooking [${entry.modules.join(', ')}]`, () => {
      const mod = fromAuto(entry.pkg) as Record<string, unknown>;
      const Class = mod[entry.className] as InstrumentationClass | undefined;
      assert.equal(
        typeof Class,
        'function',
        `${entry.pkg} exports ${entry.className}`
      );
      if (Class === undefined) return;
      const instance = new Class({ enabled: false });
      const names = instance.getModuleDefinitions().map(d => d.name);
      assert.deepEqual(new Set(names), new Set(entry.modules));
    });
  }
});
