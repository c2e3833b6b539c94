#!/usr/bin/env bash
# Build smack's pulumi toolset into a bin directory:
#   pulumi                          the CLI, built from pkg/v3 via the wrapper module in cli/
#   pulumi-language-python          our Python language host (language-host/)
#   pulumi-language-python-exec     runs a Python program for the host (scripts/)
#   pulumi-resource-pulumi-python   host for pulumi.dynamic providers (scripts/)
#
# Usage: build.sh <version> <dest-bin-dir>      e.g. build.sh v3.260.0 ~/.cache/smack/pulumi/v3.260.0/bin
#
# Idempotent: when <dest-bin-dir> already holds a `pulumi` that reports <version> and the
# language host, nothing is built (the check costs one `pulumi version`); the two scripts
# are copied again only when they differ from the ones here.
# Only `go` is needed; modules come through go's default proxy settings, and the
# committed go.mod/go.sum files pin every dependency (-mod=readonly: a build never
# edits them). Go's own GOCACHE/GOMODCACHE are used, so later builds are faster.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <version> <dest-bin-dir>" >&2
    exit 2
fi
version=$1
dest=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binaries=(pulumi-language-python pulumi)
scripts=(pulumi-language-python-exec pulumi-resource-pulumi-python)

log() { echo "[pulumi-build] $*" >&2; }

# True when dest holds both binaries at $version.
present() {
    local f
    for f in "${binaries[@]}"; do
        [ -x "$dest/$f" ] || return 1
    done
    [ "$("$dest/pulumi" version 2>/dev/null)" = "$version" ]
}

# The scripts are plain files of this repository: keep dest's copies equal to them.
sync_scripts() {
    local f
    for f in "${scripts[@]}"; do
        cmp -s "$here/scripts/$f" "$dest/$f" || install -m 0755 "$here/scripts/$f" "$dest/$f"
    done
}

if present; then
    sync_scripts
    exit 0
fi

# The version is pinned by the committed go.mod files; refuse a mismatch rather
# than silently building something else under this version's name.
for mod in cli language-host; do
    if ! grep -Eq "github.com/pulumi/pulumi/sdk/v3 $version( |$)" "$here/$mod/go.mod"; then
        log "$here/$mod/go.mod does not pin sdk/v3 at $version; update it (go get + go mod tidy) first"
        exit 1
    fi
done

if ! command -v go >/dev/null 2>&1; then
    PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null 2>&1 || { log "go not found on PATH or in /usr/local/go/bin"; exit 1; }

mkdir -p "$dest"
# One builder at a time per dest; a waiter re-checks and usually finds it done.
exec 9>"$dest/.build.lock"
flock 9
if present; then
    sync_scripts
    exit 0
fi

# Build next to dest (same filesystem) so each `mv` into place is an atomic rename.
tmp=$(mktemp -d "$dest/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Step timing from bash's microsecond clock (no bc/date arithmetic needed).
step_start=0
step() { step_start=${EPOCHREALTIME/./}; log "$1 ..."; }
done_step() {
    local us=$(( ${EPOCHREALTIME/./} - step_start ))
    log "$1 took $((us / 1000000)).$(printf %03d $((us / 1000 % 1000)))s"
}

# Static, stripped binaries that report $version (the CLI prints it, and the
# engine reads the language host's version from GetPluginInfo).
export CGO_ENABLED=0
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
log "$(go version); building $version into $dest"

step "building pulumi CLI"
(cd "$here/cli" && go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$tmp/pulumi" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
done_step "pulumi CLI"

step "building pulumi-language-python"
(cd "$here/language-host" && go build -mod=readonly -trimpath -ldflags "$ldflags" \
    -o "$tmp/pulumi-language-python" .)
done_step "pulumi-language-python"

got=$("$tmp/pulumi" version)
if [ "$got" != "$version" ]; then
    log "built pulumi reports '$got', expected '$version'"
    exit 1
fi

sync_scripts
# pulumi goes last: present() keys on it, so a reader never sees a half-installed set.
for f in "${binaries[@]}"; do
    mv -f "$tmp/$f" "$dest/$f"
done
log "installed $version into $dest"
