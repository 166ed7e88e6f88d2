// kubesonic-agent's whole run: arguments and settings → the agent with its real ports → exit code.
import { loggerSyslog } from '../host/syslog.js';
import { loadCredentials } from '../kube/kubeconfig.js';
import { FEATURE_POD_SELECTOR, featureSelector } from '../kube/ids.js';
import { leanClusterReader } from '../kube/lean.js';
import { migrationVersion, type Settings } from '../settings.js';
import { ExitError } from '../util/errors.js';
import { AGENT_USAGE, defaultNamespace, parseAgentArgs } from './agent-args.js';
import { runAgent } from './agent.js';
import { leanFeatureDb } from './lean-db.js';

export interface AgentIo {
  out: (line: string) => void;
  log: (line: string) => void;
  stop: AbortSignal;
}

export async function agentMain(argv: readonly string[], settings: Settings, io: AgentIo): Promise<number> {
  const parsed = parseAgentArgs(argv);
  if (parsed.kind === 'help') {
    io.out(AGENT_USAGE);
    return 0;
  }
  if (parsed.kind === 'usage-error') throw new ExitError(parsed.message, 2);
  const { args } = parsed;
  const creds = await loadCredentials(args.kubeconfig, settings.api);
  if (!creds) throw new ExitError('no Kubernetes credentials: set --kubeconfig or KUBECONFIG', 1);
  // The lean client fails a command at once while Redis is away; the writers retry by themselves.
  const db = leanFeatureDb(settings.redis);
  try {
    const opts = {
      namespace: defaultNamespace(args, settings.podNamespace),
      node: (args.node || settings.nodeName).toLowerCase(),
      only: args.only,
      labelSelector: args.only ? featureSelector(args.only) : FEATURE_POD_SELECTOR,
      defaultVersion: args.migrationVersion ?? migrationVersion(settings),
      hostRoot: settings.hostRoot,
      unitStateDir: args.unitStateDir,
      hostIntervalMs: args.hostIntervalMs,
      readyFile: args.readyFile,
      log: io.log,
      resyncMs: 5000,
    };
    const syslog = loggerSyslog({ tag: 'kubesonic-agent', detached: false });
    await runAgent(opts, { cluster: leanClusterReader(creds), db, syslog }, io.stop);
    return 0;
  } finally {
    db.close();
  }
}
