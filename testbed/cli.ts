// `node dist/testbed.mjs images OUT_DIR BIN_DIR`: writes pause.tar, feature.tar and sidecar.tar for import.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootTarball, featureImage, pauseImage, sidecarImage } from './image.js';

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
writeFileSync(join(outDir, 'sidecar.tar'), sidecarImage(dist, readFileSync(debianRootTarball(join(dist, '..')))));
process.stdout.write(`${outDir}\n`);
