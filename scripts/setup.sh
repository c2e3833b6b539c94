#!/usr/bin/env bash
# Install what smack needs on this machine; every step is skipped when already done.
#   OS packages: podman, runc, mmdebstrap (local nodes), Java 17, ssh client, python venv
#   .venv:       the smack package with pinned dependencies (constraints.txt)
#   base image:  the local nodes' Debian image, built once and cached
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root (local nodes are rootful podman containers): sudo $0" >&2
    exit 1
fi

# --- OS packages -----------------------------------------------------------------------------
# Each package is installed only when missing; apt-get update runs only if something is.
wanted=(podman runc mmdebstrap uidmap containernetworking-plugins netavark aardvark-dns
        iptables openssh-client ca-certificates)
command -v java >/dev/null 2>&1 || wanted+=(openjdk-17-jre-headless)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing OS packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python virtualenv -----------------------------------------------------------------------
python=${SMACK_PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: smack needs Python 3.11 (found $("$python" --version 2>&1)); set SMACK_PYTHON" >&2
    exit 1
fi
stamp=.venv/.smack-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing the smack virtualenv (.venv)"
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c constraints.txt -e '.[test,lint]'
    echo "$want" > "$stamp"
fi

# --- Base image of the local nodes --------------------------------------------------------------
.venv/bin/smack image --stack "${SMACK_STACK:-local}"
