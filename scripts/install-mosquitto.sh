#!/usr/bin/env bash
# Installs Debian's mosquitto (2.0.x) for the MQTT link tests and the bridge benchmark
# (test/helpers/mosquitto.ts starts its own brokers on free loopback ports with temporary
# configs). The package's system service must not run: it would hold port 1883.
set -euo pipefail
if [ -x /usr/sbin/mosquitto ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
# policy-rc.d exit 101: invoke-rc.d in the package's postinst starts no service
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# Another apt-get on the same machine holds the dpkg lock: wait for it instead of failing.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends mosquitto
# if a service got started anyway (no policy-rc.d honoured, systemd present), stop it and
# keep it from starting at boot
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
$SUDO rm -f /etc/systemd/system/multi-user.target.wants/mosquitto.service
/usr/sbin/mosquitto -h | head -1 || true
