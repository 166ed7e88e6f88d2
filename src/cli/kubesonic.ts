// kubesonic: the migration tool's CLI. Each command lives in its domain module; this file only
// wires arguments to them and turns failures into one line and an exit code.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { VERSION } from '../util/version.js';
import { errorLine, exitCodeOf } from '../util/errors.js';
import { commands } from './commands/index.js';

const cli = yargs(hideBin(process.argv))
  .scriptName('kubesonic')
  .version(VERSION)
  .strict()
  .demandCommand(1, 'name a command')
  .recommendCommands()
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`${y.help().toString()}\n\nkubesonic: ${msg}\n`);
    process.exit(2);
  });
for (const command of commands) cli.command(command);
try {
  await cli.parseAsync();
} catch (e) {
  process.stderr.write(`kubesonic: ${errorLine(e)}\n`);
  process.exitCode = exitCodeOf(e);
}
