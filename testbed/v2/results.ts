// What the guest of the cgroup v2 lane reports (testbed/v2/guest-checks.ts writes it, the
// test/v2 assertions read it). Every section is optional: a guest step that failed leaves its
// section out and says why in `errors`, so the host's assertions name what is missing.

/** One memory_checker invocation inside the guest. */
export interface CheckerRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** memory.current and memory.stat's inactive_file of one cgroup, read by the guest itself. */
export interface KernelRead {
  current: number;
  inactiveFile: number;
  workingSet: number;
}

/** A check bracketed by two kernel reads of the same cgroup. */
export interface Bracketed {
  before: KernelRead;
  run: CheckerRun;
  after: KernelRead;
}

export interface RaceRound {
  round: number;
  /** Every racing run of the round, in start order; `afterStop` marks runs started once the stop was issued. */
  runs: Array<CheckerRun & { afterStop: boolean }>;
  /** A check started once the container was gone. */
  afterRemoval: CheckerRun;
}

export interface V2Results {
  cgroupFsType?: string;
  kernel?: string;
  dockerCgroupDriver?: string;
  dockerCgroupVersion?: string;
  native?: {
    bmpId: string;
    watchdogId: string;
    /** The v2 line of /proc/<bmp pid>/cgroup. */
    procCgroup: string;
    dir: string;
    checked: Bracketed;
    watchdog: CheckerRun;
    api: { before: KernelRead; usage: number; inactiveFile: number; after: KernelRead };
    cli: { before: KernelRead; memUsage: string; after: KernelRead };
    over: CheckerRun;
    overThreshold: number;
    under: CheckerRun;
    underThreshold: number;
  };
  pod?: {
    uid: string;
    id: string;
    cgroupsPath: string;
    dir: string;
    procCgroup: string;
    checked: Bracketed;
    auto: CheckerRun;
    over: CheckerRun;
    overThreshold: number;
    under: CheckerRun;
    underThreshold: number;
  };
  broken?: {
    dir: string;
    garbageStat: CheckerRun;
    garbageCurrent: CheckerRun;
    unreadableCurrent: CheckerRun;
    /** A normal check once the bind mounts are gone again. */
    restored: CheckerRun;
  };
  /** A live process in a cgroup that has no memory controller (its parent delegates none). */
  nomem?: {
    dir: string;
    procCgroup: string;
    hasMemoryCurrent: boolean;
    run: CheckerRun;
    processAliveAfter: boolean;
  };
  /** containerd task state naming a live (reused) pid whose container's scope is gone. */
  stale?: {
    dir: string;
    run: CheckerRun;
  };
  race?: {
    threshold: number;
    native: RaceRound[];
    pod: RaceRound[];
  };
  errors: string[];
  /** Seconds each guest step took. */
  timings: Record<string, number>;
}
