// Exit codes and the one message monit appends to its log, exactly as SONiC's memory_checker.

export const EXIT = {
  OK: 0,
  INTERNAL_ERROR: 1,
  INVALID_VALUE: 2,
  OVER_THRESHOLD: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function overThresholdMessage(container: string, usage: number, threshold: number): string {
  return `[${container}]: Memory usage (${usage} Bytes) is larger than the threshold (${threshold} Bytes)!`;
}

export function exitCodeFor(usage: number, threshold: number): ExitCode {
  return usage > threshold ? EXIT.OVER_THRESHOLD : EXIT.OK;
}
