#!/usr/bin/env bash
# Installs Debian's rabbitmq-server (3.10.x, with Erlang) for the STOMP link test against
# RabbitMQ (test/helpers/rabbitmq.ts starts its own node with the rabbitmq_stomp plugin
# on free loopback ports, with its own epmd). The package's system service must not run:
# it would hold ports 5672 and 4369 and a node nobody asked for.
set -euo pipefail
if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
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
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends rabbitmq-server
# if a service got started anyway (no policy-rc.d honoured, systemd present), stop it and
# keep it from starting at boot
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
fi
$SUDO rm -f /etc/systemd/system/multi-user.target.wants/rabbitmq-server.service
dpkg-query -W rabbitmq-server
