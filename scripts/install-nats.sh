#!/usr/bin/env bash
# Installs Debian's nats-server (2.9.x) for the JetStream store engine's tests
# (test/helpers/nats.ts starts its own servers on free loopback ports). The package's
# system service must not run: it would hold port 4222 and a store dir nobody asked for.
set -euo pipefail
if [ -x /usr/sbin/nats-server ]; then
  exit 0
fi
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install_no_service nats-server nats-server
/usr/sbin/nats-server --version
