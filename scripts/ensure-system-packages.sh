#!/bin/sh
# Install the Debian packages replyx's tests need, only when their commands are missing.
# Usage: scripts/ensure-system-packages.sh COMMAND=PACKAGE ...
set -eu
missing=""
for pair in "$@"; do
    cmd=${pair%%=*}
    pkg=${pair#*=}
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0
echo "Installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
