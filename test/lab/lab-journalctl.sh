#!/bin/bash
# journalctl stand-in for the test lab. SIMULATED: there is no journal; a unit
# started by the lab's systemctl logs to /var/log/<name>.log, and this prints
# that file. Supports -u UNIT (repeatable), -n N / --lines=N, -f / --follow,
# and ignores the rest (-x, -e, --no-pager, --since ...).
set -u
units=()
lines=""
follow=0
while [ "$#" -gt 0 ]; do
  a=$1
  case $a in
    --unit=*) units+=("${a#--unit=}") ;;
    --unit) units+=("$2"); shift ;;
    --lines=*) lines=${a#--lines=} ;;
    --lines) lines=$2; shift ;;
    --follow) follow=1 ;;
    --since | --until | -S | -U | -o | --output | -p | --priority | -t | -b) shift ;;
    --*) ;;
    -*)
      # combined short flags such as -xeu etcd or -n50
      flags=${a#-}
      while [ -n "$flags" ]; do
        c=${flags:0:1}
        flags=${flags:1}
        case $c in
          u) if [ -n "$flags" ]; then units+=("$flags"); else units+=("$2"); shift; fi; flags="" ;;
          n) if [ -n "$flags" ]; then lines=$flags; elif [[ ${2:-} =~ ^[0-9]+$ ]]; then lines=$2; shift; else lines=10; fi; flags="" ;;
          f) follow=1 ;;
          e) [ -n "$lines" ] || lines=1000 ;;
          *) ;;
        esac
      done ;;
  esac
  shift
done
if [ "${#units[@]}" -eq 0 ]; then
  echo "lab journalctl: only -u UNIT is supported (logs are /var/log/<unit>.log)" >&2
  exit 1
fi
files=()
for u in "${units[@]}"; do
  u=${u%.service}
  [ -e "/var/log/$u.log" ] && files+=("/var/log/$u.log")
done
if [ "${#files[@]}" -eq 0 ]; then echo "-- No entries --"; exit 0; fi
if [ "$follow" = 1 ]; then exec tail -n "${lines:-10}" -F "${files[@]}"; fi
if [ -n "$lines" ]; then tail -q -n "$lines" "${files[@]}"; else cat "${files[@]}"; fi
