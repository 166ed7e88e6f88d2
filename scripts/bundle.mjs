// Single-file builds: dist/memory_checker.mjs (the monit hot path: no client-node, no yargs, no
// ioredis), the long-running lean ones (kubesonic-agent, kubesonic-exporter: no client-node, no
// yargs) and dist/kubesonic.mjs (everything else). None needs node_modules on the switch.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, chmodSync, writeFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// The exporter allocates a few MB a second (a collection a second) and lives as long as the switch:
// V8 grows its young generation to 3 × 16 MiB for such a rate, 95 MiB peak RSS at 20 features
// against 68 MiB with 1 MiB semi-spaces, p99 unchanged (scavenges of a small young generation are
// short; bench/results.md). Linux hands the one argument to node; package.sh keeps it.
const nodeFlags = { 'kubesonic-exporter': ' --max-semi-space-size=1' };
const shebang = (name) => (nodeFlags[name] ? `#!/usr/bin/env -S node${nodeFlags[name]}` : '#!/usr/bin/env node');
const banner = (name) =>
  [
    shebang(name),
    "import { createRequire as __ksCreateRequire } from 'node:module';",
    'const require = __ksCreateRequire(import.meta.url);',
  ].join('\n');

const entries = {
  memory_checker: 'src/cli/memory_checker.ts',
  kubesonic: 'src/cli/kubesonic.ts',
  'kubesonic-agent': 'src/cli/kubesonic-agent.ts',
  'kubesonic-exporter': 'src/cli/kubesonic-exporter.ts',
  testbed: 'testbed/cli.ts',
};
// CommonJS bundles for the hot path: Node starts a .cjs main without its ESM loader (which reads the
// main file through fs/promises and streams), a quarter of memory_checker's start-up
// (bench/results.md). The .deb installs dist/<name>.cjs, when there is one, in place of <name>.mjs.
// For memory_checker that is a small launcher that runs dist/memory_checker.main.cjs with V8's code
// cache (src/util/code-cache.ts), keyed by the SHA-256 of that bundle, computed here.
const cjsEntries = { 'memory_checker.main': entries.memory_checker };
const launchers = { memory_checker: { entry: 'src/cli/memory_checker-launcher.ts', main: 'memory_checker.main' } };

async function bundle(name, entry, format, extraDefine = {}) {
  const out = `dist/${name}.${format === 'esm' ? 'mjs' : 'cjs'}`;
  const result = await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    // Debian bookworm's own nodejs is 18.19 (docs/packaging.md): the .deb depends on it.
    target: 'node18',
    format,
    minify: true,
    legalComments: 'none',
    metafile: true,
    // A bundle a launcher runs is not run by the kernel: no #! line.
    banner: { js: format === 'esm' ? banner(name) : name.endsWith('.main') ? '' : shebang(name) },
    define: {
      ...extraDefine,
      __KUBESONIC_VERSION__: JSON.stringify(version),
      // yargs-parser 22 refuses Node < 20 by policy (support window), not for an API it needs: the
      // install test runs every shipped command on bookworm's nodejs 18 (test/package/).
      'process.env.YARGS_MIN_NODE_VERSION': '"18"',
      // createRequire(import.meta.url) in the sources; a CommonJS module has its path instead.
      ...(format === 'cjs' ? { 'import.meta.url': '__filename' } : {}),
    },
    logLevel: 'warning',
  });
  chmodSync(out, name.endsWith('.main') ? 0o644 : 0o755);
  // Which packages each bundle contains: scripts/package.sh lists their licences in the .deb's copyright.
  writeFileSync(out.replace(/\.[mc]js$/, '.meta.json'), JSON.stringify(result.metafile));
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  console.log(`${out} ${(bytes / 1024).toFixed(0)} KiB`);
}

for (const [name, entry] of Object.entries(entries)) await bundle(name, entry, 'esm');
for (const [name, entry] of Object.entries(cjsEntries)) await bundle(name, entry, 'cjs');
for (const [name, { entry, main }] of Object.entries(launchers)) {
  const sha256 = createHash('sha256')
    .update(readFileSync(`dist/${main}.cjs`))
    .digest('hex');
  await bundle(name, entry, 'cjs', { __KUBESONIC_MAIN_SHA256__: JSON.stringify(sha256) });
}
