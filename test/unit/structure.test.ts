// The shape of the house, checked on every test run: no import cycle in src/, one reader of the
// environment, thin entry points, and a memory_checker and an exporter that load none of the heavy
// packages.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const sources = files(SRC);
const text = new Map(sources.map((f) => [f, readFileSync(f, 'utf8')]));
const rel = (f: string) => relative(SRC, f);

/** Import specifiers of a file: static imports, re-exports and dynamic imports. */
function specifiers(source: string): string[] {
  return [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

/** Local imports resolved to files (type-only imports included: a cycle of types is still a cycle of ideas). */
const graph = new Map(
  sources.map((f) => [
    f,
    specifiers(text.get(f)!)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolve(dirname(f), s.replace(/\.js$/, '.ts'))),
  ]),
);

function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'visiting');
    stack.push(f);
    for (const next of graph.get(f) ?? []) {
      if (state.get(next) === 'visiting') found.push([...stack.slice(stack.indexOf(next)), next].map(rel));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of sources) if (!state.has(f)) visit(f);
  return found;
}

/** Every package a file loads, following local imports. */
/** The local files an entry point reaches through its imports. */
function filesReachedFrom(entry: string): Set<string> {
  const seen = new Set<string>();
  const walk = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const s of specifiers(text.get(f) ?? '')) if (s.startsWith('.')) walk(resolve(dirname(f), s.replace(/\.js$/, '.ts')));
  };
  walk(entry);
  return seen;
}

function packagesReachedFrom(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const walk = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const s of specifiers(text.get(f) ?? '')) {
      if (s.startsWith('.')) walk(resolve(dirname(f), s.replace(/\.js$/, '.ts')));
      else packages.add(s); // type-only imports too: stricter than the bundle needs
    }
  };
  walk(entry);
  return packages;
}

describe('the house', () => {
  it('every local import resolves to a file', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !text.has(d)).map((d) => `${rel(f)} -> ${rel(d)}`));
    expect(missing).toEqual([]);
  });

  it('has no import cycle in src/', () => {
    expect(cycles()).toEqual([]);
  });

  it('reads process.env in src/settings.ts only', () => {
    expect(sources.filter((f) => text.get(f)!.includes('process.env')).map(rel)).toEqual(['settings.ts']);
  });

  it('keeps src/cli/ thin: under 50 lines a file, no file system, processes, sockets or clients of its own', () => {
    const cli = sources.filter((f) => rel(f).startsWith('cli/'));
    expect(cli.length).toBeGreaterThan(5);
    for (const f of cli) {
      expect({ file: rel(f), lines: text.get(f)!.split('\n').length <= 50 }).toEqual({ file: rel(f), lines: true });
      const io = specifiers(text.get(f)!).filter((s) =>
        /^(node:)?(fs|fs\/promises|child_process|net|http|https)$|^ioredis$|^@kubernetes\/client-node$/.test(s),
      );
      expect({ file: rel(f), io }).toEqual({ file: rel(f), io: [] });
    }
  });

  it("memory_checker's code reaches none of the heavy packages (monit runs it every cycle)", () => {
    const loaded = packagesReachedFrom(join(SRC, 'cli', 'memory_checker.ts'));
    for (const heavy of ['@kubernetes/client-node', 'yargs', 'ioredis', 'prom-client']) expect(loaded).not.toContain(heavy);
    // The same walk does see them from the kubesonic CLI: the check can fail.
    expect(packagesReachedFrom(join(SRC, 'cli', 'kubesonic.ts'))).toContain('@kubernetes/client-node');
  });

  it("memory_checker loads Node's network modules only when it asks a server (no value import of them at start)", () => {
    const eager = (entry: string) =>
      [...filesReachedFrom(entry)].flatMap((f) =>
        [...text.get(f)!.matchAll(/(?:^|\n)import (?!type )[^'"]*from '(node:(?:http|https|tls|net|crypto))'/g)].map(
          (m) => `${rel(f)}: ${m[1]}`,
        ),
      );
    expect(eager(join(SRC, 'cli', 'memory_checker.ts'))).toEqual([]);
    expect(eager(join(SRC, 'cli', 'memory_checker-launcher.ts'))).toEqual([]);
    // The same scan does find such imports elsewhere: the check can fail.
    expect(eager(join(SRC, 'cli', 'kubesonic.ts')).length).toBeGreaterThan(0);
  });

  it("kubesonic-exporter's code reaches neither client-node nor yargs nor ioredis (it runs as long as the switch)", () => {
    const loaded = packagesReachedFrom(join(SRC, 'cli', 'kubesonic-exporter.ts'));
    for (const heavy of ['@kubernetes/client-node', 'yargs', 'ioredis']) expect(loaded).not.toContain(heavy);
    // The walk does reach the exporter's own package, and `kubesonic exporter` runs the same code.
    expect(loaded).toContain('prom-client');
    expect(packagesReachedFrom(join(SRC, 'cli', 'commands', 'exporter.ts'))).toEqual(new Set([...loaded, 'yargs']));
  });
});
