import { readFileSync } from 'node:fs';
import { dump } from 'js-yaml';
import type { CommandModule } from 'yargs';
import { parseFeatureSpec } from '../../manifest/spec.js';
import { renderFeature } from '../../manifest/render.js';
import { resolveSpecPath } from '../spec-path.js';

interface RenderArgs {
  feature: string;
  spec?: string;
  migrationVersion?: string;
}

export const renderCommand: CommandModule<object, RenderArgs> = {
  command: 'render <feature>',
  describe: 'print the DaemonSet, ConfigMap, ServiceAccount and RBAC for a feature (YAML)',
  builder: (y) =>
    y
      .positional('feature', { type: 'string', demandOption: true })
      .option('spec', { type: 'string', describe: 'feature spec file (default: deploy/features/<feature>.yaml)' })
      .option('migration-version', { type: 'string', choices: ['v0', 'v1', 'v2'], describe: 'override the sidecar migration version' }),
  handler: (argv) => {
    const file = resolveSpecPath(argv.feature, argv.spec);
    const spec = parseFeatureSpec(readFileSync(file, 'utf8'), file);
    if (spec.feature !== argv.feature) throw new Error(`${file} describes ${spec.feature}, not ${argv.feature}`);
    if (argv.migrationVersion && spec.sidecar) spec.sidecar.version = argv.migrationVersion as 'v0' | 'v1' | 'v2';
    process.stdout.write(renderFeature(spec).map((o) => `---\n${dump(o, { noRefs: true, lineWidth: 200 })}`).join(''));
  },
};
