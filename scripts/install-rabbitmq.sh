#!/usr/bin/env bash
# Installs Debian's rabbitmq-server (3.10.x, with Erlang) for the STOMP link test against
# RabbitMQ (test/helpers/rabbitmq.ts starts its own node with the rabbitmq_stomp plugin
# on free loopback ports, with its own epmd). The package's system service must not run:
# it would hold ports 5672 and 4369 and a node nobody asked for.
set -euo pipefail
if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  exit 0
fi
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
apt_install_no_service rabbitmq-server rabbitmq-server
dpkg-query -W rabbitmq-server
