import { dump } from 'js-yaml';
import type { CommandModule } from 'yargs';
import { renderAgent } from '../../manifest/render.js';
import { loadSpec, loadSpecFile } from '../../manifest/spec-file.js';

interface Args {
  features: string[];
  spec?: string;
}

export const renderAgentCommand: CommandModule<object, Args> = {
  command: 'render-agent <features..>',
  describe: 'print the per-node agent (DaemonSet, ServiceAccount, read-only RBAC) serving the features (YAML)',
  builder: (y) =>
    y
      .positional('features', { type: 'string', array: true, demandOption: true })
      .option('spec', { type: 'string', describe: "spec for the node's layout and the image (default: the first feature's)" }) as never,
  handler: (argv) => {
    // The node's layout, image and API address are any feature's: the given spec's, else the first's.
    const base = argv.spec ? loadSpecFile(argv.spec) : loadSpec(argv.features[0]!);
    process.stdout.write(
      renderAgent(base, argv.features)
        .map((o) => `---\n${dump(o, { noRefs: true, lineWidth: 200 })}`)
        .join(''),
    );
  },
};
