// The switch's syslog behind a small port. Node.js cannot send a datagram to the /dev/log unix
// socket, so the real one hands its lines to util-linux's `logger` (bsdutils, Essential on Debian,
// in the image too), one process for all the lines of a run: `--prio-prefix` carries each line's
// priority, `-t` the tag SONiC's scripts log under (Python's syslog.syslog without openlog uses the
// script's name, no pid). A spawn costs a few ms (docs/design.md#syslog), so callers log only on
// the paths where SONiC's own scripts do and the common path spawns nothing — and loads nothing:
// node:child_process is imported on the first flush (importing it costs about 2 ms at start).
export type SyslogSeverity = 'err' | 'warning' | 'notice' | 'info';

/** RFC 5424 severities; the facility is user (1), as Python's syslog module defaults to. */
const SEVERITY: Record<SyslogSeverity, number> = { err: 3, warning: 4, notice: 5, info: 6 };
const FACILITY_USER = 1;

export interface SyslogLine {
  severity: SyslogSeverity;
  message: string;
}

export interface Syslog {
  /** Queue one line (newlines become spaces: one call, one syslog message). */
  log(severity: SyslogSeverity, message: string): void;
  /**
   * Hand the queued lines to syslog. Rejects with a one-line error when they could not be handed
   * over (a detached logger is never waited for, so it only rejects when it could not start).
   */
  flush(): Promise<void>;
}

/** `<PRI>message` lines for `logger --prio-prefix`. */
export function prioPrefixed(lines: readonly SyslogLine[]): string {
  return lines.map((l) => `<${FACILITY_USER * 8 + SEVERITY[l.severity]}>${l.message.replace(/[\r\n]+/g, ' ')}\n`).join('');
}

export interface LoggerOptions {
  /** The tag (ident) the lines carry, e.g. memory_checker. */
  tag: string;
  /**
   * Don't wait for logger (memory_checker: monit waits for its exit, and a syslog that is slow must
   * not make the check slow). The agent waits, to report a syslog it cannot reach.
   */
  detached: boolean;
  /** How long a waited-for logger may take. */
  timeoutMs?: number;
  /** The logger binary (tests point it elsewhere). */
  command?: string;
}

export function loggerSyslog(opts: LoggerOptions): Syslog {
  let queued: SyslogLine[] = [];
  return {
    log(severity, message) {
      queued.push({ severity, message });
    },
    async flush() {
      if (!queued.length) return;
      const input = prioPrefixed(queued);
      queued = [];
      const { spawn } = await import('node:child_process');
      return new Promise<void>((resolve, reject) => {
        const child = spawn(opts.command ?? 'logger', ['--prio-prefix', '-t', opts.tag], {
          stdio: ['pipe', 'ignore', opts.detached ? 'ignore' : 'pipe'],
          detached: opts.detached,
        });
        let stderr = '';
        child.stderr?.on('data', (b: Buffer) => {
          stderr += b.toString();
        });
        // logger missing, or gone before reading: a syslog failure, never the caller's crash.
        child.stdin?.on('error', () => undefined);
        child.on('error', (e) => reject(new Error(`logger: ${e.message}`)));
        child.stdin?.end(input);
        if (opts.detached) {
          child.unref();
          child.once('spawn', () => resolve());
          return;
        }
        const timer = setTimeout(() => {
          child.kill();
          reject(new Error(`logger did not finish within ${opts.timeoutMs ?? 5000} ms`));
        }, opts.timeoutMs ?? 5000);
        timer.unref();
        child.on('close', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve();
          else reject(new Error(`logger exited ${code}: ${stderr.trim().split('\n')[0] ?? ''}`));
        });
      });
    },
  };
}

/** A syslog that drops everything (memory_checker with KUBESONIC_MEMORY_CHECKER_SYSLOG=off). */
export const noSyslog: Syslog = { log: () => undefined, flush: () => Promise.resolve() };
