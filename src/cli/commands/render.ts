import { dump } from 'js-yaml';
import type { CommandModule } from 'yargs';
import { loadSpec } from '../../manifest/spec-file.js';
import { renderFeature } from '../../manifest/render.js';
import type { MigrationVersion } from '../../sonic/paths.js';

interface RenderArgs {
  feature: string;
  spec?: string;
  migrationVersion?: MigrationVersion;
}

export const renderCommand: CommandModule<object, RenderArgs> = {
  command: 'render <feature>',
  describe: 'print the DaemonSet, ServiceAccount and RBAC for a feature (YAML)',
  builder: (y) =>
    y
      .positional('feature', { type: 'string', demandOption: true })
      .option('spec', { type: 'string', describe: 'feature spec file (default: deploy/features/<feature>.yaml)' })
      .option('migration-version', {
        type: 'string',
        choices: ['v0', 'v1', 'v2'] as const,
        describe: 'override the sidecar migration version',
      }) as never,
  handler: (argv) => {
    const spec = loadSpec(argv.feature, argv.spec);
    if (argv.migrationVersion && spec.sidecar) spec.sidecar.version = argv.migrationVersion;
    process.stdout.write(
      renderFeature(spec)
        .map((o) => `---\n${dump(o, { noRefs: true, lineWidth: 200 })}`)
        .join(''),
    );
  },
};
