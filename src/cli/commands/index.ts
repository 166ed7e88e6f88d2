import type { CommandModule } from 'yargs';
import { renderCommand } from './render.js';
import { renderAgentCommand } from './render-agent.js';
import { systemdCommand } from './systemd.js';
import { syncCommand } from './sync.js';
import { restartCommand } from './restart.js';
import { migrateCommand, rollbackCommand } from './migrate.js';
import { clusterCommand } from './cluster.js';
import { exporterCommand } from './exporter.js';
import { renderClusterAccessCommand, renderSwitchAccessCommand } from './render-access.js';
import { switchCredentialCommand } from './switch-credential.js';

// yargs command modules differ in their argument types; the list only hands them over.
export const commands = [
  renderCommand,
  renderAgentCommand,
  renderClusterAccessCommand,
  renderSwitchAccessCommand,
  switchCredentialCommand,
  clusterCommand,
  migrateCommand,
  rollbackCommand,
  systemdCommand,
  syncCommand,
  restartCommand,
  exporterCommand,
] as unknown as CommandModule[];
