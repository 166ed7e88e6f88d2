// kubesonic: the migration tool's CLI. Each command lives in its domain module; this file only
// wires arguments to them and turns failures into one line and an exit code.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { VERSION } from '../util/version.js';
import { commands } from './commands.js';

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 500);
}

const cli = yargs(hideBin(process.argv))
  .scriptName('kubesonic')
  .version(VERSION)
  .strict()
  .demandCommand(1, 'name a command')
  .recommendCommands()
  .fail((msg, err) => {
    process.stderr.write(`kubesonic: ${msg ?? oneLine(err)}\n`);
    process.exit(err && 'exitCode' in err && typeof err.exitCode === 'number' ? err.exitCode : 1);
  });
for (const command of commands) cli.command(command);
await cli.parseAsync();
