#!/usr/bin/env bash
# Installs Debian's mosquitto (2.0.x) for the MQTT link tests and the bridge benchmark
# (test/helpers/mosquitto.ts starts its own brokers on free loopback ports with temporary
# configs). The package's system service must not run: it would hold port 1883.
set -euo pipefail
if [ -x /usr/sbin/mosquitto ]; then
  exit 0
fi
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install_no_service mosquitto mosquitto
/usr/sbin/mosquitto -h | head -1 || true
