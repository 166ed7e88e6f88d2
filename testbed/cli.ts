// `node dist/testbed.mjs images OUT_DIR BIN_DIR`: writes pause.tar, feature.tar, feature-supervisord.tar and sidecar.tar for import.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootTarball, featureImage, pauseImage, sidecarImage, SUPERVISED_PACKAGES, supervisedFeatureImage } from './image.js';

const [command, outDir, binDir] = process.argv.slice(2);
if (command !== 'images' || !outDir || !binDir) {
  process.stderr.write('usage: testbed images OUT_DIR BIN_DIR\n');
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'pause.tar'), pauseImage(binDir));
writeFileSync(join(outDir, 'feature.tar'), featureImage(binDir));
// dist/testbed.mjs sits next to the bundles it packs; the repository is one level up.
const dist = new URL('.', import.meta.url).pathname;
const repo = join(dist, '..');
writeFileSync(join(outDir, 'sidecar.tar'), sidecarImage(dist, readFileSync(debianRootTarball(repo))));
writeFileSync(
  join(outDir, 'feature-supervisord.tar'),
  supervisedFeatureImage(binDir, readFileSync(debianRootTarball(repo, SUPERVISED_PACKAGES))),
);
process.stdout.write(`${outDir}\n`);
