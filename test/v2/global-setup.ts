// The cgroup v2 lane's one boot: builds (or takes from the cache) the guest, assembles the
// payload (this machine's node, the memory_checker bundle, the guest checks, a feature image
// with memhog), boots the guest once and hands the results' directory to the test file.
// A guest that does not boot is not a skip: the test file fails on the missing results.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { TestProject } from 'vitest/node';
import { featureImage } from '../../testbed/image.js';

const REPO = new URL('../../', import.meta.url).pathname;
export const V2_WORK = process.env.KUBESONIC_V2_WORK || '/var/tmp/kubesonic-v2';

export interface V2Lane {
  out: string;
  guestDir?: string;
  /** Seconds: guest image (0-ish when cached), payload, boot + checks. */
  guestSeconds: number;
  payloadSeconds: number;
  bootSeconds: number;
  error?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    v2lane: V2Lane;
  }
}

const since = (t: number) => Math.round((Date.now() - t) / 100) / 10;

async function buildPayload(dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const gobuild = join(V2_WORK, 'memhog-src');
  mkdirSync(gobuild, { recursive: true });
  copyFileSync(join(REPO, 'testbed/images/memhog/main.go'), join(gobuild, 'main.go'));
  writeFileSync(join(gobuild, 'go.mod'), 'module example.invalid/memhog\n\ngo 1.21\n');
  execFileSync('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(dir, 'memhog'), '.'], {
    cwd: gobuild,
    env: { ...process.env, CGO_ENABLED: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  execFileSync(process.execPath, ['scripts/bundle.mjs'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  copyFileSync(join(REPO, 'dist/memory_checker.mjs'), join(dir, 'memory_checker.mjs'));
  await build({
    entryPoints: [join(REPO, 'testbed/v2/guest-checks.ts')],
    outfile: join(dir, 'guest-checks.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
  });
  copyFileSync(join(REPO, 'testbed/v2/guest.sh'), join(dir, 'guest.sh'));
  // The host's node (20): Debian bookworm's own is 18, older than the bundles' target.
  copyFileSync(process.execPath, join(dir, 'node'));
  execFileSync('chmod', ['0755', join(dir, 'node'), join(dir, 'memhog')]);
  writeFileSync(join(dir, 'feature-image.tar'), featureImage(dir, '/bin/busybox'));
}

export async function setup(project: TestProject): Promise<void> {
  const out = join(V2_WORK, 'run');
  const lane: V2Lane = { out, guestSeconds: 0, payloadSeconds: 0, bootSeconds: 0 };
  try {
    let t = Date.now();
    const built = execFileSync('bash', [join(REPO, 'testbed/v2/build-guest.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    lane.guestDir = built.trim().split('\n').at(-1);
    if (!lane.guestDir) throw new Error('testbed/v2/build-guest.sh printed no guest directory');
    lane.guestSeconds = since(t);
    t = Date.now();
    await buildPayload(join(V2_WORK, 'payload'));
    lane.payloadSeconds = since(t);
    t = Date.now();
    try {
      execFileSync('bash', [join(REPO, 'testbed/v2/boot.sh'), lane.guestDir, join(V2_WORK, 'payload'), out], {
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 15 * 60_000,
      });
    } finally {
      lane.bootSeconds = since(t);
    }
  } catch (e) {
    lane.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
  process.stderr.write(
    `[v2] guest image ${lane.guestSeconds} s, payload ${lane.payloadSeconds} s, boot + checks ${lane.bootSeconds} s${lane.error ? `; FAILED: ${lane.error}` : ''}\n`,
  );
  project.provide('v2lane', lane);
}
