// Waiting, on the monotonic clock: a wall-clock step (NTP at boot) must not cut a wait short.
import { performance } from 'node:perf_hooks';
import { errorLine } from './errors.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Milliseconds on a clock that never steps. */
export const monotonicMs = (): number => performance.now();

/** Poll `probe` until it returns a value; its errors are kept for the timeout message. */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const until = monotonicMs() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (monotonicMs() > until)
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (${errorLine(last)})` : ''}`);
    await sleep(everyMs);
  }
}
