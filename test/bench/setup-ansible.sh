#!/usr/bin/env bash
# Make sure ansible-playbook is there for the bench's Ansible comparison (engine.bench.test.ts).
# The bench only: `npm test` does not need Ansible.
#
# Idempotent and quiet: when ansible-playbook is on the PATH it prints nothing and returns at once.
# Otherwise it runs `apt-get update` once and installs ansible-core (no recommends), with a
# policy-rc.d that forbids maintainer scripts to start services, as test/lab/setup.sh does.
# Exit 0 = ansible-playbook is there; anything else = it is not (the reason on stderr): the bench
# then prints that in its Ansible table and measures the rest.
set -euo pipefail

die() { echo "test/bench/setup-ansible.sh: $*" >&2; exit 1; }

command -v ansible-playbook >/dev/null 2>&1 && exit 0

[ "$(id -u)" -eq 0 ] || die "ansible-playbook is missing and installing it needs root"
command -v apt-get >/dev/null 2>&1 || die "ansible-playbook is missing and there is no apt-get to install it"
echo "test/bench/setup-ansible.sh: ansible-playbook missing; installing ansible-core with apt-get" >&2

policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ] || [ -L "$policy" ]; then
  backup="$(mktemp /usr/sbin/.policy-rc.d.bench-backup.XXXXXX)"
  mv -f "$policy" "$backup"
fi
printf '#!/bin/sh\nexit 101\n' > "$policy"
chmod 755 "$policy"
cleanup() {
  rm -f "$policy"
  if [ -n "$backup" ]; then mv -f "$backup" "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# apt's and dpkg's chatter goes to a log, shown only when something fails
log=$(mktemp /tmp/bench-setup-ansible.XXXXXX.log)
trap 'cleanup; rm -f "$log"' EXIT
fail() { tail -n 20 "$log" >&2; die "$1"; }
apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed"
# --no-upgrade: packages already installed stay at their version
apt-get install -y -qq --no-install-recommends --no-upgrade ansible-core >"$log" 2>&1 || fail "apt-get install ansible-core failed"
command -v ansible-playbook >/dev/null 2>&1 || die "ansible-playbook still missing after installing ansible-core"
exit 0
