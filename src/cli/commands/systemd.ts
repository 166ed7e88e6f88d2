import type { CommandModule } from 'yargs';
import { crictlRuntime } from '../../host/cri.js';
import { dockerEngine } from '../../host/docker.js';
import { realSystemctl, systemStopping } from '../../host/systemctl.js';
import { HOLD_DIR, TAINT_PENDING_DIR, UNIT_STATE_DIR } from '../../sonic/paths.js';
import { connectCluster } from '../../kube/client.js';
import { runUnitVerb, UNIT_VERBS, type UnitVerb } from '../../pod/unit-verb.js';
import { readSettings } from '../../settings.js';
import { nodeOf, out, untilSignal, withTarget, type TargetArgs } from './common.js';

interface Args extends TargetArgs {
  feature: string;
  action: UnitVerb;
  timeout: number;
}

export const systemdCommand: CommandModule<object, Args> = {
  command: 'systemd <feature> <action>',
  describe: 'what the feature unit runs: start | stop | restart | status | wait, the taint sync (taint), or print the unit drop-in (unit)',
  builder: (y) =>
    withTarget(
      y
        .positional('feature', { type: 'string', demandOption: true })
        .positional('action', { choices: UNIT_VERBS, demandOption: true })
        .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for the pod' }),
    ) as never,
  handler: async (argv) => {
    const settings = readSettings();
    const target = { feature: argv.feature, namespace: argv.namespace, node: nodeOf(argv, settings) };
    const ports = {
      cluster: () => connectCluster(argv.kubeconfig, settings.api),
      runtime: crictlRuntime(settings.cri),
      systemStopping: () => systemStopping(realSystemctl),
    };
    const signal = argv.action === 'wait' ? untilSignal() : undefined;
    const host = {
      holdDir: HOLD_DIR,
      taintPendingDir: TAINT_PENDING_DIR,
      unitStateDir: UNIT_STATE_DIR,
      docker: dockerEngine(settings.dockerSocket),
    };
    process.exitCode = await runUnitVerb(argv.action, target, ports, { timeoutMs: argv.timeout * 1000, out, signal, ...host });
  },
};
