// A syslog (src/host/syslog.ts) that keeps what it was handed, for asserting exact lines.
import type { Syslog, SyslogLine, SyslogSeverity } from '../../src/host/syslog.js';

export class FakeSyslog implements Syslog {
  /** Lines handed over by flush(), in order. */
  readonly lines: SyslogLine[] = [];
  /** Queued, not yet flushed. */
  private queued: SyslogLine[] = [];
  /** flush() rejects (a syslog that cannot be reached). */
  broken = false;
  flushes = 0;

  log(severity: SyslogSeverity, message: string): void {
    this.queued.push({ severity, message });
  }

  async flush(): Promise<void> {
    if (!this.queued.length) return;
    this.flushes++;
    const q = this.queued;
    this.queued = [];
    if (this.broken) throw new Error('logger: spawn logger ENOENT');
    this.lines.push(...q);
  }
}
