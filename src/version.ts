// The package version, kept in step with package.json (test/version.test.ts checks it).

/** This package's version. */
export const VERSION = '0.1.0';
