import type { CommandModule } from 'yargs';
import { renderCommand } from './commands/render.js';
import { systemdCommand } from './commands/systemd.js';
import { syncCommand } from './commands/sync.js';
import { gateCommand } from './commands/gate.js';
import { restartCommand } from './commands/restart.js';
import { migrateCommand, rollbackCommand } from './commands/migrate.js';
import { exporterCommand } from './commands/exporter.js';

// yargs command modules differ in their argument types; the list only needs to hand them over.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [renderCommand, migrateCommand, rollbackCommand, systemdCommand, syncCommand, gateCommand, restartCommand, exporterCommand];
