// kubesonic: the migration tool's CLI. Each command lives in its domain module; this file only
// wires arguments to them and turns failures into one line and an exit code.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { VERSION } from '../util/version.js';
import { commands } from './commands.js';

function oneLine(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'body' in e && typeof (e as { body: unknown }).body === 'string') {
    // client-node ApiException: the apiserver's Status message is the useful part.
    try {
      const status = JSON.parse((e as { body: string }).body) as { message?: string };
      if (status.message) return status.message.split('\n')[0]!.slice(0, 500);
    } catch {
      /* not JSON */
    }
  }
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 500);
}

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
  process.stderr.write(`kubesonic: ${oneLine(e)}\n`);
  process.exitCode = typeof e === 'object' && e !== null && 'exitCode' in e && typeof e.exitCode === 'number' ? e.exitCode : 1;
}
