// Single-file builds: dist/memory_checker.mjs (the monit hot path: no client-node, no yargs, no
// ioredis) and dist/kubesonic.mjs (everything else). Neither needs node_modules on the switch.
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __ksCreateRequire } from 'node:module';",
  'const require = __ksCreateRequire(import.meta.url);',
].join('\n');

const entries = {
  memory_checker: 'src/cli/memory_checker.ts',
  kubesonic: 'src/cli/kubesonic.ts',
  'kubesonic-agent': 'src/cli/kubesonic-agent.ts',
  testbed: 'testbed/cli.ts',
};
for (const [name, entry] of Object.entries(entries)) {
  const out = `dist/${name}.mjs`;
  const result = await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    metafile: true,
    banner: { js: banner },
    define: { __KUBESONIC_VERSION__: JSON.stringify(version) },
    logLevel: 'warning',
  });
  chmodSync(out, 0o755);
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  console.log(`${out} ${(bytes / 1024).toFixed(0)} KiB`);
}
