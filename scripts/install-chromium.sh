#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (test/browser/) when it is missing.
# playwright-core drives this system browser; Playwright's own browser downloads are never
# used (this machine reaches no download host but the package registries).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install chromium
/usr/bin/chromium --version
