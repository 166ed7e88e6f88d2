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

export async function runSteps(steps: readonly Step[], opts: { dryRun: boolean; out: (line: string) => void }): Promise<StepReport[]> {
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
    // Crash-convergence tests stop the process right after a chosen step, as a power cut would.
    if (process.env.KUBESONIC_FAULT_AFTER_STEP === step.name) {
      opts.out(`${label}: fault injected, exiting`);
      process.exit(70);
    }
  }
  return reports;
}
