#!/bin/sh
# Writes OUT/BuildInfo.swift: the version (the VERSION file) and the git commit this build is made from,
# for `hello-sockets --version`. Run by the BuildInfo plugin before every build of hello-sockets.
#
# Usage: scripts/build-info.sh REPO OUT
#
# The commit: `git rev-parse` in a clone (with "-dirty" when tracked files have changes); in a tarball
# made by `git archive` (no .git), the COMMIT file, which git fills in when archiving (export-subst in
# .gitattributes); otherwise "unknown". The file is rewritten only when its content changes.
set -eu
root=$1
out=$2
PATH="${PATH:-}:/usr/local/bin:/usr/bin:/bin"
version=$(tr -d ' \n' < "$root/VERSION" 2>/dev/null || true)
[ -n "$version" ] || version=unknown
commit=""
# Only this repository's own .git: a tarball unpacked inside another clone must not take that one's commit.
top=$(git -C "$root" rev-parse --show-toplevel 2>/dev/null || true)
if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$root" && pwd -P)" ]; then
    commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || true)
    if [ -n "$commit" ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        commit="$commit-dirty"
    fi
fi
if [ -z "$commit" ] && [ -f "$root/COMMIT" ]; then
    archived=$(tr -d ' \n' < "$root/COMMIT")
    case "$archived" in
        *Format*) ;;                                    # not filled in: not made by git archive
        *) commit=$(printf '%s' "$archived" | cut -c1-12) ;;
    esac
fi
[ -n "$commit" ] || commit=unknown
mkdir -p "$out"
new="// Written by scripts/build-info.sh at build time (the BuildInfo plugin); not in git.
/// The version and the git commit this binary was built from.
enum BuildInfo {
    static let version = \"$version\"
    static let commit = \"$commit\"
}
"
if [ ! -f "$out/BuildInfo.swift" ] || [ "$(cat "$out/BuildInfo.swift")
" != "$new" ]; then
    printf '%s' "$new" > "$out/BuildInfo.swift"
fi
