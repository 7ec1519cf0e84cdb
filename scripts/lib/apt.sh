# Sourced by scripts/install-*.sh: what every one of them does to install a Debian
# package, in one place. Not runnable on its own.
#   apt_install PACKAGE            install it (waits out another apt-get's dpkg lock)
#   apt_install_no_service PACKAGE SERVICE
#                                  the same for a package that ships a system service,
#                                  which must not run: it would hold the default ports
#                                  the tests leave alone (the helpers start their own
#                                  servers on free loopback ports)

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

apt_install() {
  # Another apt-get on the same machine holds the dpkg lock: wait for it instead of failing.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$1"
}

apt_install_no_service() {
  # policy-rc.d exit 101: invoke-rc.d in the package's postinst starts no service
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt_install "$1"
  # if a service got started anyway (no policy-rc.d honoured, systemd present), stop it
  # and keep it from starting at boot
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    $SUDO systemctl disable --now "$2" >/dev/null 2>&1 || true
  fi
  $SUDO rm -f "/etc/systemd/system/multi-user.target.wants/$2.service"
}
