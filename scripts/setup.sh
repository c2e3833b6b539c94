#!/usr/bin/env bash
# Install what smack needs on this machine; every step is skipped when already done.
#   OS packages: podman, runc, mmdebstrap (local nodes), Java 17, ssh client, python venv, npm;
#                Chromium too with SMACK_SETUP_TESTS=1 (the test command's browser tests)
#   .venv:       the smack package with pinned dependencies (constraints.txt)
#   pulumi CLI:  the version of the pulumi Python SDK pinned in pyproject.toml, with the
#                Python language host: from PATH, from a release tarball you point at, or
#                built once from the Go module proxy (tools/pulumi) into the cache
#   stand-ins:   the Mesos/Marathon stand-in apt repository the local stack installs from
#   base image:  the local nodes' Debian image, built once and cached
#   bundle:      ZooKeeper, Kafka, Cassandra and Spark for the stack's versions, Spark's Kafka
#                source and Cassandra connector, resolved from the package registries, and the
#                IoT pipeline's jars built with Maven, into the cache (`smack bundle`)
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
        iptables openssh-client ca-certificates gcc)
# javac builds the Mesos stand-in's Java driver (tests/standins/build_java.py).
command -v javac >/dev/null 2>&1 || wanted+=(openjdk-17-jdk-headless)
# The stand-in mesos-executor starts as #!/usr/bin/python3, like on the nodes.
[ -x /usr/bin/python3 ] || wanted+=(python3)
# `smack bundle` packs the dashboards' chart library (uPlot) with npm.
command -v npm >/dev/null 2>&1 || wanted+=(npm)
# The test command's dashboard tests drive Debian's Chromium (through playwright).
[ "${SMACK_SETUP_TESTS:-0}" = 1 ] && wanted+=(chromium)
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
    log=.venv/pip-install.log
    if ! { .venv/bin/python -m pip install --upgrade pip \
           && .venv/bin/python -m pip install -c constraints.txt -e '.[test,lint]'; } >"$log" 2>&1
    then
        tail -30 "$log" >&2
        echo "setup: installing the virtualenv failed (full log: $log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi

# --- Pulumi CLI ------------------------------------------------------------------------------
cache=${SMACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smack}
pulumi_version=v$(sed -n 's/.*"pulumi==\([0-9.]*\)".*/\1/p' pyproject.toml)
pulumi_bin=$cache/pulumi/$pulumi_version/bin
if [ -x "$pulumi_bin/pulumi" ] || [ "$(pulumi version 2>/dev/null)" = "$pulumi_version" ]; then
    # Already here; the build script only refreshes its helper scripts when they changed.
    [ -x "$pulumi_bin/pulumi" ] && tools/pulumi/build.sh "$pulumi_version" "$pulumi_bin"
elif [ -n "${SMACK_PULUMI_RELEASE_URL:-}" ]; then
    # A pulumi release tarball (the official one where the internet is reachable, or a copy
    # on your own server); {version} in the URL is replaced, e.g. ...pulumi-{version}-linux-x64.tar.gz
    url=${SMACK_PULUMI_RELEASE_URL//\{version\}/$pulumi_version}
    log "downloading the pulumi CLI $pulumi_version"
    tmp=$(mktemp -d)
    curl -fsSL "$url" | tar -xz -C "$tmp"
    mkdir -p "$pulumi_bin"
    cp "$tmp"/pulumi/* "$pulumi_bin"/
    rm -rf "$tmp"
else
    log "building the pulumi CLI $pulumi_version from the Go module proxy (once, a few minutes)"
    tools/pulumi/build.sh "$pulumi_version" "$pulumi_bin"
fi

# --- Mesos/Marathon stand-in repository (the local stack's package source) -------------------
# No real Mesos or Marathon package can be downloaded here; the local stack installs these test
# doubles instead (tests/standins/README.md). Builds are reproducible: a rebuild changes nothing.
.venv/bin/python -m tests.standins.build >/dev/null

# --- Base image of the local nodes, artifact bundle ---------------------------------------------
.venv/bin/smack image --stack "${SMACK_STACK:-local}"
.venv/bin/smack bundle --stack "${SMACK_STACK:-local}"
