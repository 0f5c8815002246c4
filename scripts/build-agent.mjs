// `npm run build:agent` (after `npm run build`): writes dist/agent/, the preload as a
// self-contained directory for the OpenTelemetry Operator and Injector. Copied anywhere, it
// works for an app in any other directory through NODE_OPTIONS alone:
//   --require <dir>/autoinstrumentation.js   (the Operator's injection)
//   --import <dir>/autoinstrumentation.mjs
// Layout: the two doors at the root (a CommonJS package), our built preload under forksafe/
// (an ES module package, as in dist/), and under node_modules/ only the packages it loads at run
// time outside its bundles, without type declarations, source maps or documentation.
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
// `--out DIR` writes the agent there instead (the tests build it into a temporary directory).
const { values: flags } = parseArgs({ options: { out: { type: 'string' } } });
const OUT = flags.out ?? join(DIST, 'agent');
const MODULES = join(ROOT, 'node_modules');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

// What the preload loads from node_modules at run time (the rest is inside its bundles): the
// four packages instrumentations share, the instrumentation packages and resource detectors
// (resolved from auto-instrumentations-node's directory), the propagators for child processes,
// and what sdk-node's bundle keeps external and loads only when configured to.
const AUTO = '@opentelemetry/auto-instrumentations-node';
const ROOTS = [
  '@opentelemetry/api',
  '@opentelemetry/core',
  '@opentelemetry/semantic-conventions',
  '@opentelemetry/instrumentation',
  '@opentelemetry/propagator-env-carrier',
  '@opentelemetry/configuration',
  '@opentelemetry/exporter-prometheus',
  '@opentelemetry/exporter-zipkin',
];
// auto-instrumentations-node is only a place to resolve from: its own code (and its sdk-node
// dependency, which our SDK bundle already holds) is never loaded.
const NOT_FOLLOWED = new Set(['@opentelemetry/sdk-node']);

// Files a running process never reads.
const DROP_FILE =
  /(\.d\.[cm]?ts|\.map|\.md|\.markdown|\.ts|\.tsbuildinfo|\.flow|\.txt)$|^(CHANGELOG|HISTORY|AUTHORS|CONTRIBUTING)/i;
const DROP_DIR =
  /^(test|tests|__tests__|docs?|examples?|\.github|benchmarks?)$/;

/** The package directory `name` resolves to from `fromDir`, as Node would find it. */
function packageDir(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Every package directory needed by `roots`, following dependencies as Node resolves them. */
function closure(roots) {
  const seen = new Set();
  const visit = (name, fromDir) => {
    if (NOT_FOLLOWED.has(name)) return;
    const dir = packageDir(name, fromDir);
    if (dir === undefined || seen.has(dir)) return;
    seen.add(dir);
    const manifest = JSON.parse(
      readFileSync(join(dir, 'package.json'), 'utf8')
    );
    for (const dep of Object.keys({
      ...manifest.dependencies,
      ...manifest.optionalDependencies,
    }))
      visit(dep, dir);
  };
  for (const name of roots) visit(name, ROOT);
  return seen;
}

function copyPruned(from, to) {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) {
      // Nested node_modules are copied as packages of their own, when needed.
      if (entry.name === 'node_modules' || DROP_DIR.test(entry.name)) continue;
      copyPruned(source, join(to, entry.name));
    } else if (entry.isFile() && !DROP_FILE.test(entry.name)) {
      cpSync(source, join(to, entry.name));
    }
  }
}

function sizeOf(dir) {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = sizeOf(path);
      bytes += sub.bytes;
      files += sub.files;
    } else {
      bytes += statSync(path).size;
      files++;
    }
  }
  return { bytes, files };
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// Our preload, as built: the register doors and src/ without the CLI, declarations or maps.
const forksafe = join(OUT, 'forksafe');
mkdirSync(join(forksafe, 'src'), { recursive: true });
for (const file of ['register.js', 'register.cjs'])
  cpSync(join(DIST, file), join(forksafe, file));
cpSync(join(DIST, 'src'), join(forksafe, 'src'), {
  recursive: true,
  filter: path => {
    const rel = relative(join(DIST, 'src'), path);
    if (rel === 'cli') return false;
    return rel === '' || statSync(path).isDirectory() || !DROP_FILE.test(path);
  },
});
writeFileSync(
  join(forksafe, 'package.json'),
  `${JSON.stringify({ name: 'otel-forksafe', version: pkg.version, type: 'module' }, null, 2)}\n`
);

// The doors the Operator and the Injector name.
writeFileSync(
  join(OUT, 'autoinstrumentation.js'),
  `// otel-forksafe ${pkg.version}: the preload for \`--require\` (the OpenTelemetry Operator's\n// NODE_OPTIONS injection). See forksafe/register.cjs.\nrequire('./forksafe/register.cjs');\n`
);
writeFileSync(
  join(OUT, 'autoinstrumentation.mjs'),
  `// otel-forksafe ${pkg.version}: the preload for \`--import\`. See forksafe/register.js.\nimport './forksafe/register.js';\n`
);
writeFileSync(
  join(OUT, 'package.json'),
  `${JSON.stringify({ name: 'otel-forksafe-agent', version: pkg.version, private: true, type: 'commonjs', license: pkg.license }, null, 2)}\n`
);

// The packages, at the same place under node_modules as here, so they resolve the same way.
const autoManifest = JSON.parse(
  readFileSync(join(MODULES, AUTO, 'package.json'), 'utf8')
);
const dirs = closure([
  AUTO,
  ...ROOTS,
  ...Object.keys(autoManifest.dependencies ?? {}),
]);
for (const dir of dirs)
  copyPruned(dir, join(OUT, 'node_modules', relative(MODULES, dir)));
// Sanity: the copy resolves what the preload resolves.
const fromAgent = createRequire(join(forksafe, 'src', 'preload', 'start.js'));
for (const name of [AUTO, ...ROOTS]) fromAgent.resolve(name);

const { bytes, files } = sizeOf(OUT);
console.log(
  `${relative(ROOT, OUT) || OUT}: ${(bytes / 1024 / 1024).toFixed(1)} MB in ${files} files, ${dirs.size} packages`
);
