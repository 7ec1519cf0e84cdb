#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (test/browser/) when it is missing.
# playwright-core drives this system browser; Playwright's own browser downloads are never
# used (this machine reaches no download host but the package registries).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
# Another apt-get on the same machine holds the dpkg lock: wait for it instead of failing.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium
/usr/bin/chromium --version
