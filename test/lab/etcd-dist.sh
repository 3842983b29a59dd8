#!/usr/bin/env bash
# Put the etcd versions the lab runs into a cache dir, one dir per version:
#
#   $CACHE/<version>/{etcd,etcdctl,etcdutl?,SHA256SUMS,VERSION}
#
# - 3.4: the machine's own Debian etcd-server / etcd-client (installed by setup.sh).
# - 3.5: Debian 13 (trixie) and Debian unstable (sid) ship etcd 3.5 with etcdutl. They are
#   fetched with `apt-get download` from the same Debian archive this machine's apt already uses
#   (its URI is read from the machine's own sources), through a private sources list and private
#   state/cache dirs: the machine's apt configuration and package state are left as they are.
#   The .debs are unpacked with `dpkg -x`; nothing is installed.
#
# Each version dir is checked (`etcd --version`, `etcdctl version`, `etcdutl version` print the
# version asked for) and gets a SHA256SUMS, as an operator's tools dir would. Idempotent: a
# version whose dir is complete is not fetched again.
#
# Usage: etcd-dist.sh [CACHE]   (default $LAB_ETCD_CACHE or /var/cache/etcd-runbook-lab)
set -euo pipefail

die() { echo "test/lab/etcd-dist.sh: $*" >&2; exit 1; }

CACHE=${1:-${LAB_ETCD_CACHE:-/var/cache/etcd-runbook-lab}}
# Debian package version -> suite it comes from
declare -A DEBIAN=([3.5.16]="3.5.16-4 trixie" [3.5.30]="3.5.30-2 sid")

mkdir -p "$CACHE"

complete() { [ -s "$1/SHA256SUMS" ] && [ -s "$1/VERSION" ]; }

# Check that every binary in $1 reports version $2, then write SHA256SUMS and VERSION.
seal() {
  local dir=$1 want=$2 got
  got=$("$dir/etcd" --version | awk '/^etcd Version:/ { print $3 }')
  [ "$got" = "$want" ] || die "$dir/etcd reports version '$got', expected $want"
  got=$("$dir/etcdctl" version | awk '/^etcdctl version:/ { print $3 }')
  [ "$got" = "$want" ] || die "$dir/etcdctl reports version '$got', expected $want"
  if [ -e "$dir/etcdutl" ]; then
    got=$("$dir/etcdutl" version | awk '/^etcdutl version:/ { print $3 }')
    [ "$got" = "$want" ] || die "$dir/etcdutl reports version '$got', expected $want"
  fi
  (cd "$dir" && sha256sum -- etcd etcdctl $( [ -e etcdutl ] && echo etcdutl ) > SHA256SUMS.tmp && mv -f SHA256SUMS.tmp SHA256SUMS)
  echo "$want" > "$dir/VERSION"
}

# --- 3.4 from the machine's Debian ------------------------------------------
v34=$(etcd --version 2>/dev/null | awk '/^etcd Version:/ { print $3 }') || true
[ -n "$v34" ] || die "no etcd on PATH (setup.sh installs etcd-server)"
if ! complete "$CACHE/$v34"; then
  tmp=$(mktemp -d "$CACHE/.tmp-$v34.XXXXXX") && chmod 755 "$tmp"
  install -m 755 "$(command -v etcd)" "$tmp/etcd"
  install -m 755 "$(command -v etcdctl)" "$tmp/etcdctl"
  seal "$tmp" "$v34"
  rm -rf "$CACHE/$v34" && mv -T "$tmp" "$CACHE/$v34"
fi

# --- 3.5 from Debian 13 / unstable, without touching the machine's apt ------
need=()
for v in "${!DEBIAN[@]}"; do complete "$CACHE/$v" || need+=("$v"); done
if [ "${#need[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get is needed to fetch etcd ${need[*]}"
  # the archive this machine already uses for Debian (deb822 or one-line sources)
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
  fi
  [ -n "$uri" ] || die "no Debian archive URI in /etc/apt/sources.list{,.d}"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -e "$keyring" ] || die "missing $keyring (package debian-archive-keyring)"

  apt_dir=$(mktemp -d "$CACHE/.apt.XXXXXX")
  trap 'rm -rf "$apt_dir"' EXIT
  mkdir -p "$apt_dir"/{sources,prefs,state/lists/partial,cache/archives/partial,debs}
  suites=$(for v in "${need[@]}"; do echo "${DEBIAN[$v]#* }"; done | sort -u | tr '\n' ' ')
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$uri" "$suites" "$keyring" > "$apt_dir/sources/lab.sources"
  apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources"
    -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$apt_dir/prefs"
    -o "Dir::State=$apt_dir/state" -o "Dir::State::status=/dev/null" -o "Dir::Cache=$apt_dir/cache"
    -o "Debug::NoLocking=1" -o "Acquire::Languages=none" -o "APT::Sandbox::User=root"
  )
  echo "test/lab/etcd-dist.sh: fetching etcd ${need[*]} ($suites) into $CACHE" >&2
  apt-get "${apt_opts[@]}" -qq update >&2 || die "apt-get update (private lists) failed"
  for v in "${need[@]}"; do
    deb=${DEBIAN[$v]% *}
    (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "etcd-server=$deb" "etcd-client=$deb" >&2) || die "apt-get download etcd $deb failed"
    tmp=$(mktemp -d "$CACHE/.tmp-$v.XXXXXX") && chmod 755 "$tmp"
    for f in "$apt_dir/debs/etcd-server_${deb}"_*.deb "$apt_dir/debs/etcd-client_${deb}"_*.deb; do
      [ -e "$f" ] || die "apt-get download left no $f"
      dpkg -x "$f" "$tmp/root"
    done
    for b in etcd etcdctl etcdutl; do
      [ -x "$tmp/root/usr/bin/$b" ] || die "etcd $deb has no usr/bin/$b"
      install -m 755 "$tmp/root/usr/bin/$b" "$tmp/$b"
    done
    rm -rf "$tmp/root"
    seal "$tmp" "$v"
    rm -rf "${CACHE:?}/$v" && mv -T "$tmp" "$CACHE/$v"
  done
fi
exit 0
