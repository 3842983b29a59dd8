#!/usr/bin/env bash
# Make sure this machine can run the SSH/etcd test lab (test/lab/lab.ts).
#
# Idempotent and quiet: when every tool is already there it prints nothing and
# returns at once. Otherwise it runs `apt-get update` once and installs the
# missing Debian packages, with a policy-rc.d that forbids starting services
# (the lab starts its own sshd instances; no system sshd/etcd must be running).
set -euo pipefail

die() { echo "test/lab/setup.sh: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  die "must run as root (the lab uses unshare/nsenter/mount and binds sshd on 127.x addresses)"
fi

# tool -> Debian package that provides it
declare -A PKG=(
  [/usr/sbin/sshd]=openssh-server
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [etcd]=etcd-server
  [etcdctl]=etcd-client
  [unshare]=util-linux
  [nsenter]=util-linux
  [mount]=mount
  [openssl]=openssl
  [curl]=curl
  [tar]=tar
  [pivot_root]=util-linux
  [sudo]=sudo
  # backup formats e2e: the standard age CLI opens what the runbook encrypted; script(1) gives it a tty for a passphrase
  [age]=age
  [age-keygen]=age
  [script]=bsdutils
  [gzip]=gzip
  # the bastion lab (bastion-net.ts): the bridge into its network namespace, and its loopback
  [socat]=socat
  [ip]=iproute2
)

missing=()
for tool in "${!PKG[@]}"; do
  if [[ $tool == /* ]]; then
    [ -x "$tool" ] || missing+=("$tool")
  else
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  echo "test/lab/setup.sh: missing ${missing[*]}; installing lab packages with apt-get" >&2

  # Forbid maintainer scripts from starting services (sshd, etcd) during the
  # install: policy-rc.d exiting 101 = "action forbidden". Any existing
  # policy-rc.d is put back afterwards.
  policy=/usr/sbin/policy-rc.d
  backup=""
  if [ -e "$policy" ] || [ -L "$policy" ]; then
    backup="$(mktemp /usr/sbin/.policy-rc.d.lab-backup.XXXXXX)"
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
  apt-get update -qq >&2 || die "apt-get update failed"
  # --no-upgrade: packages that are already installed are left at their version.
  # the packages of the missing tools, from the table above (one list, so a new tool cannot be forgotten here)
  pkgs=()
  for tool in "${missing[@]}"; do pkgs+=("${PKG[$tool]}"); done
  mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
  apt-get install -y -qq --no-install-recommends --no-upgrade "${pkgs[@]}" >&2 \
    || die "apt-get install ${pkgs[*]} failed"

  for tool in "${!PKG[@]}"; do
    if [[ $tool == /* ]]; then [ -x "$tool" ] || die "$tool still missing after install"
    else command -v "$tool" >/dev/null 2>&1 || die "$tool still missing after install"; fi
  done
fi

# sshd refuses to start without its privilege-separation user (created by the
# openssh-server package; checked because a half-configured package can lack it).
getent passwd sshd >/dev/null 2>&1 || die "user 'sshd' is missing (reinstall openssh-server)"

# The lab mounts overlayfs inside each node's mount namespace.
grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems 2>/dev/null || die "kernel has no overlay filesystem"

# etcd 3.4 (this machine's Debian) and 3.5 (Debian 13 / unstable, fetched without touching the
# machine's apt setup) as the lab's "images" and an operator's tools dir
bash "$(dirname "$0")/etcd-dist.sh"

exit 0
