#!/usr/bin/env bash
# Builds kubesonic_<version>_all.deb with dpkg-deb (no debhelper: the package is a handful of files)
# and checks it with lintian. Prints the .deb's path. docs/packaging.md says what goes where.
#   npm run package            build (tsc + bundles) then package
#   KUBESONIC_NO_BUILD=1 …     package the dist/ already built
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${KUBESONIC_NO_BUILD:-}" ] || npm run --silent build >&2
version=$(node -p 'require("./package.json").version')
# Reproducible: every mtime is the last commit's time, owners are root, gzip without names/times.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
export DEB_MAINTAINER=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>')}
out=build/deb
root=$out/root
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/kubesonic" "$root/etc/monit/conf.d" \
  "$root/lib/systemd/system" "$root/usr/share/doc/kubesonic" "$root/usr/share/man/man1"

# Every bundle but the testbed's: a CLI added to scripts/bundle.mjs ships without an edit here.
# Where bundle.mjs also made a CommonJS build (dist/<name>.cjs: the hot path, memory_checker), that
# one is installed instead: Node starts it without the ESM loader.
# /usr/bin/<name> is a symlink so Node sees the real file's extension (.mjs: ESM, .cjs: CommonJS).
for bundle in dist/*.mjs; do
  name=$(basename "$bundle" .mjs)
  [ "$name" = testbed ] && continue
  [ -f "dist/$name.cjs" ] && bundle="dist/$name.cjs"
  file=$(basename "$bundle")
  # Debian's nodejs is /usr/bin/node; lintian checks the interpreter against Depends. A bundle's
  # node flag (bundle.mjs: the exporter's) stays: the kernel passes it to node as one argument.
  sed '1s|^#!/usr/bin/env \(-S \)\{0,1\}node|#!/usr/bin/node|' "$bundle" >"$root/usr/lib/kubesonic/$file"
  chmod 0755 "$root/usr/lib/kubesonic/$file"
  ln -s "../lib/kubesonic/$file" "$root/usr/bin/$name"
  node packaging/debian-files.mjs man "$name" "$bundle" "$root/usr/share/man/man1/$name.1"
  gzip -9n "$root/usr/share/man/man1/$name.1"
done
# A bundle a launcher runs (memory_checker's, with V8's code cache): beside it, not a command.
for main in dist/*.main.cjs; do
  install -m 0644 "$main" "$root/usr/lib/kubesonic/"
done
# The code cache memory_checker writes under /var/cache/kubesonic goes with the package.
install -m 0755 packaging/postrm "$root/DEBIAN/postrm"
install -m 0644 monit/monit_* "$root/etc/monit/conf.d/"
install -m 0644 deploy/systemd/*.service "$root/lib/systemd/system/"
install -m 0644 README.md docs/design.md docs/packaging.md "$root/usr/share/doc/kubesonic/"
install -m 0644 monit/README.md "$root/usr/share/doc/kubesonic/README.monit.md"
gzip -9n "$root/usr/share/doc/kubesonic/design.md"
mkdir -p "$root/usr/share/doc/kubesonic/examples/features"
install -m 0644 deploy/features/*.yaml "$root/usr/share/doc/kubesonic/examples/features/"
node packaging/debian-files.mjs copyright "$root"
# A native package's changelog: one entry per version, dated by the commit.
{
  echo "kubesonic ($version) unstable; urgency=medium"
  echo
  echo "  * Release $version; see git log for changes."
  echo
  echo " -- $DEB_MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} >"$root/usr/share/doc/kubesonic/changelog"
gzip -9n "$root/usr/share/doc/kubesonic/changelog"
# Lintian's overrides, each with its reason (packaging/lintian-overrides).
overrides=$(sed -e '/^#/d' -e '/^$/d' packaging/lintian-overrides)
if [ -n "$overrides" ]; then
  mkdir -p "$root/usr/share/lintian/overrides"
  printf '%s\n' "$overrides" >"$root/usr/share/lintian/overrides/kubesonic"
fi

(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
node packaging/debian-files.mjs control "$root"
find "$root" -exec touch --no-dereference -d "@$SOURCE_DATE_EPOCH" {} +
chmod -R go-w "$root"
deb="$out/kubesonic_${version}_all.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
if command -v lintian >/dev/null; then
  # Errors and warnings fail the build; the overrides file says why each waived tag is waived.
  lintian --fail-on error,warning --suppress-tags-from-file /dev/null "$deb" >&2
fi
echo "$deb"
