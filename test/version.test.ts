// src/version.ts is written by hand: it must name package.json's version.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { VERSION } from '../src/version.ts';
import { ROOT } from './helpers/run-node.ts';

test('VERSION is the version in package.json', () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as {
    version: string;
  };
  assert.equal(VERSION, pkg.version);
});
