# Sourced by the install scripts: `apt_install PACKAGE...` installs Debian packages without
# starting any service they ship (a policy-rc.d answering 101 while it runs, as Debian's own
# chroot tools do; a machine's existing policy is left alone), with one `apt-get update` per run.
export DEBIAN_FRONTEND=noninteractive
_apt_updated=0

apt_install() {
  if [ "$_apt_updated" = 0 ]; then apt-get update -qq >&2; _apt_updated=1; fi
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  local status=0
  apt-get install -y -qq "$@" >&2 || status=$?
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  return "$status"
}
