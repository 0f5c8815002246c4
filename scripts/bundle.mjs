// Build step (after tsc): the entry file of each folder that loads as one unit becomes one
// bundle, written beside tsc's output of that folder (nothing in src/ is edited):
// - dist/src/preload/start.js: src/preload/start.ts and what it imports, in place of tsc's
//   output of the same name (ES module, every package external). What every process loads.
// - dist/src/sdk/sdk.bundle.cjs: src/sdk/start.ts with @opentelemetry/sdk-node and the
//   exporters, which src/preload/load.ts requires in processes that export. One CommonJS file
//   loads in about half the time of the ~700 small ones it is made of.
// - dist/src/loading/otel-deps.bundle.cjs: the four packages every instrumentation shares (API,
//   core, instrumentation base, semantic conventions), which a worker puts in require.cache
//   under their own file names (src/loading/shared-deps.ts): ~110 files, read in ~25 ms
//   instead of ~65.
// - dist/src/prometheus/prometheus.bundle.cjs: the Prometheus scrape endpoint (see below).
// src/diag.ts and src/version.ts stay outside all four (one instance per process).
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// Shared with the app and with instrumentation packages: these must stay single instances
// loaded from node_modules (the API's globals, the instrumentation base and its hooks). The
// last three are loaded by every instrumentation package anyway: bundled, they would load twice.
const EXTERNAL = [
  '@opentelemetry/api',
  '@opentelemetry/instrumentation',
  '@opentelemetry/auto-instrumentations-node',
  '@opentelemetry/core',
  '@opentelemetry/semantic-conventions',
  // Never used with the configuration startSdk passes (file configuration, Zipkin)
  // or only by gRPC servers (channelz): left out, they would be a third of the bundle.
  '@opentelemetry/configuration',
  '@opentelemetry/exporter-zipkin',
  '@grpc/proto-loader',
];

// Dev note: @opentelemetry/sdk-node requires every exporter and propagator it could ever use,
// and the file-configuration package (with a YAML parser), when it loads. Inside the bundle,
// those requires get a stand-in that loads the real module on first use, so only what the
// configuration names is ever evaluated.
const LAZY_FROM_SDK_NODE =
  /^@opentelemetry\/(exporter-[a-z-]+|propagator-[a-z0-9-]+|configuration|otlp-exporter-base|otlp-grpc-exporter-base)$/;

const lazyPlugin = {
  name: 'lazy-sdk-node-imports',
  setup(b) {
    b.onResolve({ filter: LAZY_FROM_SDK_NODE }, args => {
      if (args.namespace === 'lazy') return undefined;
      if (!/[\\/]@opentelemetry[\\/]sdk-node[\\/]/.test(args.importer))
        return undefined;
      return {
        path: args.path,
        namespace: 'lazy',
        pluginData: { resolveDir: args.resolveDir },
      };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, args => ({
      loader: 'js',
      resolveDir: args.pluginData.resolveDir,
      contents: `let real;
const load = () => (real ??= require(${JSON.stringify(args.path)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Object.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
});
`,
    }));
  },
};

// Dev note: the OpenTelemetry packages are dual ESM/CommonJS since SDK 3. src/sdk/ imports them
// with `import`, which would make esbuild take their ES module flavour, and its ESM-to-CJS
// interop (__toESM) copies every property of what a module imports: that evaluated each lazy
// stand-in below at load, i.e. every exporter and the YAML parser. Taking the CommonJS flavour
// (what the instrumentations load at run time too) keeps the stand-ins lazy.
const commonJsFlavourPlugin = {
  name: 'opentelemetry-commonjs-flavour',
  setup(b) {
    b.onResolve({ filter: /^@opentelemetry\// }, async args => {
      if (args.kind !== 'import-statement' || args.pluginData?.cjs)
        return undefined;
      const r = await b.resolve(args.path, {
        kind: 'require-call',
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { cjs: true },
      });
      if (r.errors.length > 0) return undefined;
      return { path: r.path, external: r.external, namespace: r.namespace };
    });
  },
};

// Dev note: the two CommonJS bundles run through vm.Script (src/loading/code-cache.ts), where import()
// has no loader unless an experimental option (which prints a warning) is given. Their only
// dynamic imports are otlp-exporter-base's import('http') / import('https'): they become
// require(), which gives the same module a tick earlier. checkNoDynamicImport() keeps it so.
const builtinImportPlugin = {
  name: 'builtin-dynamic-import-to-require',
  setup(b) {
    b.onLoad(
      { filter: /[\\/]otlp-exporter-base[\\/].*\.c?js$/ },
      async args => {
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('import(')) return undefined;
        return {
          loader: 'js',
          contents: source.replace(
            /\bimport\((['"])(https?)\1\)/g,
            'Promise.resolve().then(() => require("$2"))'
          ),
        };
      }
    );
  },
};

// Dev note: an ES import of a built-in module builds its namespace by reading every export,
// which runs Node's lazy getters: `node:fs` loads fs/promises (with readline and the REPL
// history), `node:util` its diff and argument parser (and stderr with it), `node:module` the
// source-map support: ~11 ms in every process for nothing; and each built-in imported so is
// wrapped in a module of the ES loader's own (~0.5 ms apiece). In the preload bundle every
// built-in is a small ES module over process.getBuiltinModule that reads only the names our
// sources import (found by reading their import statements), so no other getter ever runs.
const LAZY_GETTER_BUILTINS = /^node:[a-z_/]+$/;
// The text of every source file under src/, read once for all the built-ins.
let sources;
function sourceTexts() {
  if (sources) return sources;
  sources = [];
  const walk = dir => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.c?ts$/.test(entry.name))
        sources.push(readFileSync(path, 'utf8'));
    }
  };
  walk(join(ROOT, 'src'));
  return sources;
}
function importedNames(builtin) {
  const names = new Set();
  const scan = source => {
    const from = new RegExp(
      `^import\\s+(type\\s+)?([^;]*?)\\s+from\\s+'${builtin}';`,
      'gms'
    );
    for (const [, typeOnly, clause] of source.matchAll(from)) {
      if (typeOnly) continue;
      const ns = /\*\s+as\s+(\w+)/.exec(clause);
      if (ns) {
        const use = new RegExp(`\\b${ns[1]}\\.(\\w+)`, 'g');
        for (const [, name] of source.matchAll(use)) names.add(name);
      }
      const named = /\{([^}]*)\}/.exec(clause);
      for (const part of named ? named[1].split(',') : []) {
        const name = part
          .trim()
          .split(/\s+as\s+/)[0]
          .trim();
        if (name !== '' && !name.startsWith('type ')) names.add(name);
      }
    }
  };
  for (const source of sourceTexts()) scan(source);
  return [...names].sort();
}
const builtinByGetterPlugin = {
  name: 'builtin-by-getBuiltinModule',
  setup(b) {
    b.onResolve({ filter: LAZY_GETTER_BUILTINS }, args => ({
      path: args.path,
      namespace: 'builtin',
    }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, args => ({
      loader: 'js',
      contents: [
        `const m = process.getBuiltinModule(${JSON.stringify(args.path)});`,
        'export default m;',
        ...importedNames(args.path).map(n => `export const ${n} = m.${n};`),
      ].join('\n'),
    }));
  },
};

// Dev note: modules that hold process-wide state, or that more than one bundle uses, stay
// outside every bundle and are loaded from their own file (tsc's output beside the bundles),
// so that each is one instance per process: src/diag.ts (level, role, what was already
// said) and src/version.ts. The CommonJS bundles get them with require(esm).
const SHARED_SOURCES = /[\\/]src[\\/](diag|version)\.ts$/;
const sharedSourcesPlugin = {
  name: 'shared-sources-outside',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*\.ts$/ }, args => {
      const file = join(args.resolveDir, args.path);
      if (!SHARED_SOURCES.test(file)) return undefined;
      const outDir = dirname(b.initialOptions.outfile);
      const built = join(ROOT, 'dist', relative(ROOT, file)).replace(
        /\.ts$/,
        '.js'
      );
      let path = relative(outDir, built);
      if (!path.startsWith('.')) path = `./${path}`;
      return { path, external: true };
    });
  },
};

function checkNoDynamicImport(file) {
  const at = readFileSync(file, 'utf8').search(/(^|[^\w$.])import\(/);
  if (at >= 0)
    throw new Error(
      `${file}: a dynamic import() at offset ${at} would fail under vm.Script (src/loading/code-cache.ts)`
    );
}

const preloadBuild = await build({
  metafile: true,
  entryPoints: [join(ROOT, 'src', 'preload', 'start.ts')],
  outfile: join(ROOT, 'dist', 'src', 'preload', 'start.js'),
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  plugins: [sharedSourcesPlugin, builtinByGetterPlugin],
  sourcemap: true,
  logLevel: 'warning',
});

const sdkBuild = await build({
  metafile: true,
  entryPoints: [join(ROOT, 'src', 'sdk', 'start.ts')],
  outfile: join(ROOT, 'dist', 'src', 'sdk', 'sdk.bundle.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: EXTERNAL,
  plugins: [
    sharedSourcesPlugin,
    commonJsFlavourPlugin,
    lazyPlugin,
    builtinImportPlugin,
  ],
  // import.meta.url has no meaning in CommonJS: give it the bundle's own URL.
  banner: {
    js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;",
  },
  define: { 'import.meta.url': '__bundleUrl' },
  sourcemap: true,
  // Whitespace only: names stay readable in stack traces; a smaller file parses faster.
  minifyWhitespace: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

// The packages a worker serves from one file (src/loading/shared-deps.ts lists the same names). Their
// versions are recorded, so that a different installed copy is never replaced by this one.
const SHARED = [
  '@opentelemetry/api',
  '@opentelemetry/core',
  '@opentelemetry/instrumentation',
  '@opentelemetry/semantic-conventions',
];
const fromRoot = createRequire(join(ROOT, 'package.json'));
const versionOf = name => {
  const main = fromRoot.resolve(name);
  const dir =
    main.slice(0, main.lastIndexOf(`/node_modules/${name}/`)) +
    `/node_modules/${name}`;
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
};

// Dev note: import-in-the-middle stays outside: it registers a loader file of its own, and it
// must be the copy installed for the base. require-in-the-middle (and the `debug` package it
// loads) is bundled: read from its files it cost ~9 ms of a worker's start.
const fromInstrumentationPlugin = {
  name: 'from-instrumentation',
  setup(b) {
    b.onResolve({ filter: /^import-in-the-middle$/ }, args => ({
      path: args.path,
      namespace: 'from-instrumentation',
    }));
    b.onLoad({ filter: /.*/, namespace: 'from-instrumentation' }, args => ({
      loader: 'js',
      contents: `const { createRequire } = require('node:module');
const base = createRequire(__filename).resolve('@opentelemetry/instrumentation');
module.exports = createRequire(base)(${JSON.stringify(args.path)});`,
    }));
  },
};

await build({
  stdin: {
    contents: `module.exports = {
  versions: ${JSON.stringify(Object.fromEntries(SHARED.map(n => [n, versionOf(n)])))},
  packages: {
${SHARED.map(n => `    ${JSON.stringify(n)}: require(${JSON.stringify(n)}),`).join('\n')}
  },
};
`,
    resolveDir: join(ROOT, 'src', 'loading'),
    sourcefile: 'otel-deps-entry.cjs',
    loader: 'js',
  },
  outfile: join(ROOT, 'dist', 'src', 'loading', 'otel-deps.bundle.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  plugins: [fromInstrumentationPlugin],
  sourcemap: true,
  minifyWhitespace: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

// The Prometheus endpoint (src/prometheus/, issue #16) as one small CommonJS file: a cluster
// primary loads it with a plain require() at its first fork, which spares it the ES module
// loader's work for require(esm) of the separate files (~7 MB of the primary's RSS, measured).
const prometheusBuild = await build({
  metafile: true,
  entryPoints: [join(ROOT, 'src', 'prometheus', 'start.ts')],
  outfile: join(ROOT, 'dist', 'src', 'prometheus', 'prometheus.bundle.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  plugins: [sharedSourcesPlugin],
  sourcemap: true,
  logLevel: 'warning',
});

checkNoDynamicImport(join(ROOT, 'dist', 'src', 'sdk', 'sdk.bundle.cjs'));
checkNoDynamicImport(
  join(ROOT, 'dist', 'src', 'loading', 'otel-deps.bundle.cjs')
);

// No source file of ours may be in two bundles: it would be two instances in one process.
// Modules that several bundles need stay outside them (SHARED_SOURCES above).
const bundlesOf = new Map();
for (const [name, result] of Object.entries({
  preloadBuild,
  sdkBuild,
  prometheusBuild,
})) {
  for (const input of Object.keys(result.metafile.inputs)) {
    if (!input.startsWith('src/')) continue;
    bundlesOf.set(input, [...(bundlesOf.get(input) ?? []), name]);
  }
}
const twice = [...bundlesOf].filter(([, names]) => names.length > 1);
if (twice.length > 0)
  throw new Error(
    `in more than one bundle: ${twice.map(([f, n]) => `${f} (${n.join(', ')})`).join('; ')}`
  );
