// `node dist/testbed.mjs images OUT_DIR BIN_DIR`: writes pause.tar and feature.tar for import.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { featureImage, pauseImage, sidecarImage } from './image.js';

const [command, outDir, binDir] = process.argv.slice(2);
if (command !== 'images' || !outDir || !binDir) {
  process.stderr.write('usage: testbed images OUT_DIR BIN_DIR\n');
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'pause.tar'), pauseImage(binDir));
writeFileSync(join(outDir, 'feature.tar'), featureImage(binDir));
writeFileSync(join(outDir, 'sidecar.tar'), sidecarImage(new URL('./kubesonic.mjs', import.meta.url).pathname));
process.stdout.write(`${outDir}\n`);
