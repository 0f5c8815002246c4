// Unit tests of src/node-options.ts: NODE_OPTIONS tokenizing, finding preloads in an argument
// list, and appending our --import once, quoted so that it tokenizes back intact.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  appendImportToNodeOptions,
  preloadSpecifiers,
  tokenizeNodeOptions,
} from '../../src/patches/node-options.ts';

describe('tokenizeNodeOptions', () => {
  const cases: Array<{ name: string; text: string; tokens: string[] }> = [
    { name: 'empty', text: '', tokens: [] },
    { name: 'only spaces', text: '   \t ', tokens: [] },
    {
      name: 'extra spaces and tabs between and around tokens',
      text: '  --a   --b\t--c=1  ',
      tokens: ['--a', '--b', '--c=1'],
    },
    {
      name: 'double quotes group a token with spaces',
      text: '--require "/tmp/my dir/x.cjs" --b',
      tokens: ['--require', '/tmp/my dir/x.cjs', '--b'],
    },
    {
      name: 'quotes in the middle of a token',
      text: '--import="file:///a b/c.js"',
      tokens: ['--import=file:///a b/c.js'],
    },
    {
      name: 'an empty quoted token is kept',
      text: '--title ""',
      tokens: ['--title', ''],
    },
    {
      name: 'backslash escapes a quote and a backslash inside quotes',
      text: '"a\\"b" "c\\\\d"',
      tokens: ['a"b', 'c\\d'],
    },
    {
      name: 'a backslash outside quotes is literal',
      text: 'C:\\path\\x.js',
      tokens: ['C:\\path\\x.js'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(tokenizeNodeOptions(c.text), c.tokens);
    });
  }
});

describe('preloadSpecifiers', () => {
  const cases: Array<{ name: string; args: string[]; specifiers: string[] }> = [
    { name: '--import x', args: ['--import', 'x'], specifiers: ['x'] },
    { name: '--import=x', args: ['--import=x'], specifiers: ['x'] },
    { name: '-r x', args: ['-r', 'x'], specifiers: ['x'] },
    { name: '--require=x', args: ['--require=x'], specifiers: ['x'] },
    {
      name: 'several, mixed with other flags',
      args: [
        '--max-old-space-size=256',
        '--import',
        'a',
        '--inspect',
        '--require=b',
        '-r',
        'c',
      ],
      specifiers: ['a', 'b', 'c'],
    },
    {
      name: 'a value containing `=` stays whole',
      args: ['--import=data:text/javascript,x=1'],
      specifiers: ['data:text/javascript,x=1'],
    },
    {
      name: 'other flags are not preloads',
      args: ['--inspect=9229', '--title', 'x', '--enable-source-maps'],
      specifiers: [],
    },
    {
      name: 'a trailing flag without a value',
      args: ['--import'],
      specifiers: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(preloadSpecifiers(c.args), c.specifiers);
    });
  }
});

describe('appendImportToNodeOptions', () => {
  const url = 'file:///opt/otel-forksafe/dist/register.js';

  test('into an empty or unset NODE_OPTIONS', () => {
    assert.equal(appendImportToNodeOptions(undefined, url), `--import=${url}`);
    assert.equal(appendImportToNodeOptions('  ', url), `--import=${url}`);
  });

  test('appends after what is there and keeps it', () => {
    const out = appendImportToNodeOptions('--max-old-space-size=256', url);
    assert.equal(out, `--max-old-space-size=256 --import=${url}`);
    assert.deepEqual(tokenizeNodeOptions(out), [
      '--max-old-space-size=256',
      `--import=${url}`,
    ]);
  });

  test('is idempotent', () => {
    const once = appendImportToNodeOptions('--max-old-space-size=256', url);
    const twice = appendImportToNodeOptions(once, url);
    assert.equal(twice, once);
    assert.equal(preloadSpecifiers(tokenizeNodeOptions(twice)).length, 1);
  });

  test('recognises our preload in any spelling isOurs accepts', () => {
    const existing =
      '--require otel-forksafe/register --max-old-space-size=256';
    const isOurs = (s: string): boolean =>
      s === url || s === 'otel-forksafe/register';
    assert.equal(appendImportToNodeOptions(existing, url, isOurs), existing);
    // Someone else's preload does not count as ours.
    assert.equal(
      appendImportToNodeOptions('--import other/register', url, isOurs),
      `--import other/register --import=${url}`
    );
  });

  const awkward = [
    'file:///tmp/my dir/register.js',
    'file:///tmp/say "hi"/register.js',
    'file:///tmp/back\\slash and space/register.js',
  ];
  for (const odd of awkward) {
    test(`quotes ${JSON.stringify(odd)} so that it tokenizes back intact`, () => {
      const out = appendImportToNodeOptions('--max-old-space-size=256', odd);
      assert.deepEqual(tokenizeNodeOptions(out), [
        '--max-old-space-size=256',
        `--import=${odd}`,
      ]);
      assert.deepEqual(preloadSpecifiers(tokenizeNodeOptions(out)), [odd]);
      // And the quoted form is still recognised as already present.
      assert.equal(appendImportToNodeOptions(out, odd), out);
    });
  }
});
