// Migration and rollback as lists of idempotent steps: each knows how to tell it is already done,
// so a rerun after a crash at any point skips what happened and finishes the rest.

export interface Step {
  name: string;
  /** What the step does, for --dry-run and logs. */
  describe: string;
  done(): Promise<boolean>;
  apply(): Promise<void>;
}

export interface StepReport {
  name: string;
  outcome: 'already done' | 'done' | 'would run';
}

export interface RunOptions {
  dryRun: boolean;
  out: (line: string) => void;
  /** Called after each applied step (crash tests end the process there, as a power cut would). */
  afterStep?: (name: string) => void;
}

export async function runSteps(steps: readonly Step[], opts: RunOptions): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const [i, step] of steps.entries()) {
    const label = `[${i + 1}/${steps.length}] ${step.name}`;
    if (await step.done()) {
      opts.out(`${label}: already done (${step.describe})`);
      reports.push({ name: step.name, outcome: 'already done' });
      continue;
    }
    if (opts.dryRun) {
      opts.out(`${label}: would ${step.describe}`);
      reports.push({ name: step.name, outcome: 'would run' });
      continue;
    }
    opts.out(`${label}: ${step.describe}`);
    await step.apply();
    reports.push({ name: step.name, outcome: 'done' });
    opts.afterStep?.(step.name);
  }
  return reports;
}
