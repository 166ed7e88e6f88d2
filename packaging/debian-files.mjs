// Writes the generated parts of the .deb's tree (scripts/package.sh stages the rest):
//   control   DEBIAN/control from package.json (+ Installed-Size of the staged tree)
//   copyright usr/share/doc/kubesonic/copyright: kubesonic's licence and every npm package bundled
//             into a dist/*.mjs (from esbuild's metafile), so the licences of the code shipped are listed
//   man NAME  a man page for a shipped CLI from its own --help (a new bundle gets one without edits)
// Usage: node packaging/debian-files.mjs control ROOT | copyright ROOT | man NAME BUNDLE OUT
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

const REPO = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const [verb, ...args] = process.argv.slice(2);
// The lowest nodejs the bundles run on (esbuild target node18; tested on bookworm's 18.19 and trixie's 20.19).
export const NODEJS_MIN = '18.19';

function duKiB(dir) {
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) bytes += duKiB(p) * 1024;
    else bytes += st.size;
  }
  return Math.ceil(bytes / 1024);
}

function control(root) {
  const fields = [
    ['Package', 'kubesonic'],
    ['Version', pkg.version],
    ['Architecture', 'all'],
    // The project's committer identity unless DEB_MAINTAINER says otherwise (scripts/package.sh).
    ['Maintainer', process.env.DEB_MAINTAINER],
    ['Installed-Size', String(duKiB(root))],
    ['Depends', `nodejs (>= ${NODEJS_MIN})`],
    ['Recommends', 'monit'],
    ['Section', 'admin'],
    ['Priority', 'optional'],
    [
      'Description',
      'SONiC features on Kubernetes DaemonSets, with the host contract kept\n' +
        ' memory_checker is a drop-in for SONiC\'s /usr/bin/memory_checker (same\n' +
        ' arguments, exit codes and message) that also sees a feature container run\n' +
        ' by Kubernetes. kubesonic renders the DaemonSets, migrates a feature and\n' +
        ' rolls it back, keeps the FEATURE table in Redis in sync, backs systemctl for\n' +
        ' a migrated feature and exports memory figures to Prometheus.\n' +
        ' .\n' +
        ' The package also installs the monit stanzas for bmp, gnmi, snmp and\n' +
        ' telemetry and the kubesonic-exporter systemd unit (not enabled).',
    ],
  ];
  writeFileSync(join(root, 'DEBIAN/control'), `${fields.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
}

/** npm packages (name → package.json) bundled into any dist/*.mjs shipped. */
function bundledPackages() {
  const found = new Map();
  for (const f of readdirSync(join(REPO, 'dist'))) {
    if (!f.endsWith('.meta.json') || f === 'testbed.meta.json') continue; // .mjs and .cjs builds share one
    const meta = JSON.parse(readFileSync(join(REPO, 'dist', f), 'utf8'));
    for (const input of Object.keys(meta.inputs)) {
      const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (!m || found.has(m[1])) continue;
      const dir = input.slice(0, m.index + m[0].length);
      found.set(m[1], JSON.parse(readFileSync(join(REPO, dir, 'package.json'), 'utf8')));
    }
  }
  return [...found.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function person(p) {
  if (!p) return undefined;
  return typeof p === 'string' ? p : [p.name, p.email ? `<${p.email}>` : ''].filter(Boolean).join(' ');
}

/** First commit's year to the build's (SOURCE_DATE_EPOCH), as git knows them. */
function years() {
  const first = execFileSync('git', ['log', '--reverse', '--format=%cd', '--date=format:%Y'], { cwd: REPO, encoding: 'utf8' }).split('\n')[0];
  const last = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000).getUTCFullYear();
  return first && Number(first) < last ? `${first}-${last}` : String(last);
}

function copyright(root) {
  const blocks = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: kubesonic',
      'Comment: usr/lib/kubesonic/*.{mjs,cjs} are single-file bundles (esbuild) of kubesonic and the npm',
      ' packages listed below; the source of each is its npm release of the version given.',
    ],
    ['Files: *', `Copyright: ${years()} kubesonic developers`, `License: ${pkg.license}`],
  ];
  const licences = new Set([pkg.license]);
  for (const [name, p] of bundledPackages()) {
    const licence = (typeof p.license === 'string' ? p.license : p.license?.type) ?? 'UNKNOWN';
    licences.add(licence);
    blocks.push([
      'Files: usr/lib/kubesonic/*',
      `Copyright: ${person(p.author) ?? `the ${name} authors`}`,
      `License: ${licence}`,
      `Comment: bundled npm package ${name} ${p.version}`,
    ]);
  }
  for (const l of [...licences].sort()) {
    const common = { 'Apache-2.0': 'Apache-2.0', 'BSD-3-Clause': 'BSD', 'GPL-2.0': 'GPL-2', 'GPL-3.0': 'GPL-3' }[l];
    blocks.push([
      `License: ${l}`,
      common
        ? ` The full text is in /usr/share/common-licenses/${common}.`
        : ` See https://spdx.org/licenses/${l}.html; the bundled package's own licence file has the text.`,
    ]);
  }
  writeFileSync(join(root, 'usr/share/doc/kubesonic/copyright'), `${blocks.map((b) => b.join('\n')).join('\n\n')}\n`);
}

const roff = (s) =>
  s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');

function man(name, bundle, out) {
  let help;
  try {
    help = execFileSync(process.execPath, [bundle, '--help'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  } catch (e) {
    help = e.stdout || `Run ${name} --help.`;
  }
  const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000).toISOString().slice(0, 10);
  const text = [
    `.TH ${name.toUpperCase()} 1 ${date} "kubesonic ${pkg.version}" "User Commands"`,
    '.SH NAME',
    `${roff(name)} \\- part of kubesonic: SONiC features on Kubernetes`,
    '.SH SYNOPSIS',
    `.B ${roff(name)}`,
    '.RI [ options ]',
    '.SH DESCRIPTION',
    'The text below is the command\'s own \\fB\\-\\-help\\fR.',
    '.PP',
    '.nf',
    roff(help.trimEnd()),
    '.fi',
    '.SH SEE ALSO',
    '/usr/share/doc/kubesonic/',
    '',
  ].join('\n');
  writeFileSync(out, text);
}

if (verb === 'control') control(args[0]);
else if (verb === 'copyright') copyright(args[0]);
else if (verb === 'man') man(args[0], args[1], args[2]);
else {
  process.stderr.write('usage: debian-files.mjs control ROOT | copyright ROOT | man NAME BUNDLE OUT\n');
  process.exit(2);
}

