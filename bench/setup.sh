#!/usr/bin/env bash
# Installs what the benchmarks need beyond `npm ci`: Debian's mosquitto, for
# bench/mqtt-bench.ts. The system service is neither enabled nor started here; the
# benchmark runs /usr/sbin/mosquitto itself with its own config on a free port.
set -euo pipefail
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
  echo "mosquitto already installed: $(/usr/sbin/mosquitto -h 2>/dev/null | head -1 || true)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
# policy-rc.d 101: the package's postinst must not start the system broker
if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mosquitto
# not enabled as a service either (what `systemctl disable mosquitto` would remove)
$SUDO rm -f /etc/systemd/system/multi-user.target.wants/mosquitto.service
echo "installed: $(/usr/sbin/mosquitto -h 2>/dev/null | head -1 || true)"
