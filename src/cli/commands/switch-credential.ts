import type { CommandModule } from 'yargs';
import { kubeClients, loadKubeConfig } from '../../kube/client.js';
import { issueSwitchCredential } from '../../kube/switch-credential.js';
import { readSettings } from '../../settings.js';

interface Args {
  node: string;
  hours: number;
  kubeconfig?: string;
  server?: string;
}

/** An admin issues a switch's kubeconfig (docs/fleet.md); it goes to /etc/kubesonic/switch.kubeconfig, mode 600. */
export const switchCredentialCommand: CommandModule<object, Args> = {
  command: 'switch-credential <node>',
  describe: "print a kubeconfig for the switch's own identity (a TokenRequest token; run with admin credentials)",
  builder: (y) =>
    y
      .positional('node', { type: 'string', demandOption: true })
      .option('hours', { type: 'number', default: 24 * 90, describe: 'token lifetime (the API server may cap it)' })
      .option('server', { type: 'string', describe: "the API server as the switch reaches it (default: the admin kubeconfig's)" })
      .option('kubeconfig', { type: 'string', describe: 'admin credentials (default: $KUBECONFIG)' }) as never,
  handler: async (argv) => {
    const k = kubeClients(loadKubeConfig(argv.kubeconfig, readSettings().api));
    const issued = await issueSwitchCredential(k, argv.node.toLowerCase(), Math.round(argv.hours * 3600), argv.server);
    // stderr: stdout is the kubeconfig itself.
    process.stderr.write(`switch ${argv.node}: token valid until ${issued.expires?.toISOString() ?? 'unknown'}\n`);
    process.stdout.write(issued.kubeconfig);
  },
};
