// The reboot figures (issue 8) from the real scenario: scripts/bench.sh runs
// test/system/reboot.test.ts with KUBESONIC_BENCH_FIGURES pointing at a JSON file (the test measures
// on the real parts — the test switch's systemd power-cycled, the node's kubelet and containerd
// restarted, the API server stopped across the reboot — and asserts what it measures); this script
// turns that file into bench/reboot.md.
import { readFileSync, writeFileSync } from 'node:fs';

const [file] = process.argv.slice(2);
const f = JSON.parse(readFileSync(file, 'utf8'));
const s = (x) => (x === undefined ? 'not measured' : `${x.toFixed(1)} s`);
const lines = [
  '## A migrated switch reboots with the API server away (bmp, real parts)',
  '',
  `The spec's fallback delay is ${f.fallbackS} s (the default is 360 s, SONiC's revert_to_local_on_wait_seconds); one run of test/system/reboot.test.ts.`,
  '',
  '| figure | measured |',
  '|---|---:|',
  `| boot → the feature running natively (local fallback), API server down | ${s(f.bootToNativeS)} (delay ${f.fallbackS} s + the unit's 2 s loop and the image's own start) |`,
  `| API server back → the pod running, the native container stopped (hand-back) | ${s(f.handBackS)} |`,
  ...f.randomReturns.map(
    (r) =>
      `| API server back ${r.backAfterS.toFixed(1)} s after boot → the pod running | ${s(r.podAfterS)} (${r.fellBack ? 'fell back first, handed back' : 'no fallback'}) |`,
  ),
  `| longest window with two bmp daemons on the machine (a 250 ms monitor, ${f.samples} samples over every reboot) | ${f.longestDualRunMs} ms |`,
  '',
  `Measured ${new Date().toISOString()} by \`npm run bench\`.`,
];
writeFileSync(new URL('reboot.md', import.meta.url), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
