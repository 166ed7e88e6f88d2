import type { CommandModule } from 'yargs';

// Filled in by the domain modules (render, sync, systemd, migrate, rollback, exporter).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs command modules differ in their argument types
export const commands: CommandModule<any, any>[] = [];
