// Every failure a user sees is one line: the first line of the message, bounded, with
// client-node's ApiException unwrapped to the apiserver's Status message.

export function errorLine(e: unknown, max = 500): string {
  if (typeof e === 'object' && e !== null && 'body' in e && typeof (e as { body: unknown }).body === 'string') {
    try {
      const status = JSON.parse((e as { body: string }).body) as { message?: unknown };
      if (typeof status.message === 'string' && status.message) return firstLine(status.message, max);
    } catch {
      // not a Status body: fall through to the error's own message
    }
  }
  return firstLine(e instanceof Error ? e.message : String(e), max);
}

function firstLine(text: string, max: number): string {
  return (text.split('\n')[0] ?? '').slice(0, max);
}

/** An error that carries the process exit code it should end with. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

export function exitCodeOf(e: unknown, fallback = 1): number {
  return typeof e === 'object' && e !== null && 'exitCode' in e && typeof e.exitCode === 'number' ? e.exitCode : fallback;
}
