import type { CommandModule } from 'yargs';
import { renderCommand } from './commands/render.js';

// yargs command modules differ in their argument types; the list only needs to hand them over.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [renderCommand];
