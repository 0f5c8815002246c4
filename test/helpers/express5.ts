// express 5 under its own name, for the tests that run an app on it: the express
// instrumentation matches the package name `express`, and the project depends on express 4 as
// `express` and on express 5 as `express5`. So node_modules/express5 is linked as
// fixtures/compat/node_modules/express, which fixtures there (and EXPRESS_MODULE) resolve.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './run-node.ts';

/**
 * The linked package's directory; links it first if needed. Test files run in parallel: a link
 * another one made meanwhile is fine.
 */
export function linkExpress5(): string {
  const link = join(ROOT, 'fixtures', 'compat', 'node_modules', 'express');
  mkdirSync(join(link, '..'), { recursive: true });
  try {
    symlinkSync(join(ROOT, 'node_modules', 'express5'), link, 'dir');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return link;
}
