// An in-memory systemctl (src/host/systemctl.ts): unit states and every call, with hooks for what
// a unit's start and stop do on the switch.
import type { Systemctl, SystemctlResult } from '../../src/host/systemctl.js';

export class FakeSystemctl implements Systemctl {
  readonly active = new Set<string>();
  readonly calls: string[] = [];
  /** What `systemctl is-system-running` says. */
  systemState = 'running';
  /** Units whose start fails (exit 1). */
  readonly failing = new Set<string>();
  /** Units masked (featured's disable): start refuses them. */
  readonly masked = new Set<string>();
  onStart: (unit: string) => void = () => undefined;
  onStop: (unit: string) => void = () => undefined;

  run(args: readonly string[]): SystemctlResult {
    this.calls.push(args.join(' '));
    const [verb, ...rest] = args;
    const unit = rest.filter((a) => !a.startsWith('-')).at(-1) ?? '';
    const ok = { code: 0, output: '' };
    switch (verb) {
      case 'is-active':
        return this.active.has(unit) ? { code: 0, output: 'active\n' } : { code: 3, output: 'inactive\n' };
      case 'is-system-running':
        return { code: this.systemState === 'running' ? 0 : 1, output: `${this.systemState}\n` };
      case 'is-enabled':
        return this.masked.has(unit) ? { code: 1, output: 'masked\n' } : { code: 0, output: 'enabled\n' };
      case 'mask':
        this.masked.add(unit);
        return ok;
      case 'unmask':
        this.masked.delete(unit);
        return ok;
      case 'start':
        if (this.masked.has(unit)) return { code: 1, output: `Failed to start ${unit}: Unit ${unit} is masked.\n` };
        if (this.failing.has(unit)) return { code: 1, output: `Job for ${unit} failed.\n` };
        if (!this.active.has(unit)) {
          this.active.add(unit);
          this.onStart(unit);
        }
        return ok;
      case 'stop':
        if (this.active.delete(unit)) this.onStop(unit);
        return ok;
      case 'restart':
        this.run(['stop', unit]);
        return this.run(['start', unit]);
      case 'enable':
        if (rest.includes('--now')) this.active.add(unit);
        return ok;
      case 'daemon-reload':
      case 'reset-failed':
        return ok;
      default:
        return { code: 1, output: `fake systemctl: ${verb} not known\n` };
    }
  }
}
