#!/bin/bash
# systemctl stand-in for the test lab. SIMULATED: there is no systemd in a lab
# node. Installed in each node as /etc/lab-bin/systemctl (node-private /etc);
# sshd sessions and lab.exec have /etc/lab-bin first on PATH.
#
# Units: /etc/systemd/system/<name>.service only. From a unit it reads
# ExecStart= (with "\" line continuations; the first word's -@:+! prefixes are
# dropped), Environment=, EnvironmentFile=, WorkingDirectory= and Description=.
# Words are split like a shell would (quotes, $VAR), not exactly like systemd.
#
# Like systemd, a unit file is loaded when it is first used and that copy is
# kept until `daemon-reload`: edit a unit, forget daemon-reload, and `restart`
# still uses the old flags (with systemd's warning on stderr).
#
# A started unit runs as a daemon: setsid, env -i (PATH + Environment=), stdin
# /dev/null, stdout+stderr appended to /var/log/<name>.log (etcd.service ->
# /var/log/etcd.log), PID in /run/lab-systemd/<unit>.pid (etcd.service.pid).
# `start` returns once the process has run 150 ms (it does not wait for
# Type=notify readiness). Restart= is ignored: a unit whose process died is
# "failed" until started again.
#
# Commands: start stop restart (try-restart reload-or-restart) is-active
# is-failed status enable disable (--now) is-enabled daemon-reload kill
# reset-failed show (-p MainPID,ActiveState,SubState,LoadState,UnitFileState
# [--value]) cat list-units, and the lab-only `boot` (daemon-reload + start
# every enabled unit; node-init.sh runs it at node start). Unknown options such
# as --no-pager or --no-block are ignored.
set -u

UNIT_DIR=/etc/systemd/system
WANTS=$UNIT_DIR/multi-user.target.wants
RUN=/run/lab-systemd
LOADED=$RUN/loaded
# systemd's default PATH, plus /etc/lab-bin last for the lab's `node` link
DAEMON_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/etc/lab-bin
STOP_TIMEOUT_S=10

QUIET=0
NOW=0
VALUE=0
PROPS=""
SIGNAL=TERM

err() { echo "$*" >&2; }
say() { [ "$QUIET" = 1 ] || echo "$*"; }

unit_name() { case $1 in *.service | *.target | *.timer | *.socket) echo "$1" ;; *) echo "$1.service" ;; esac; }
short() { echo "${1%.service}"; }

# field 22 of /proc/PID/stat; fails if gone or zombie
starttime() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  # shellcheck disable=SC2086
  set -- $rest
  case $1 in Z | X) return 1 ;; esac
  echo "${20}"
}

main_pid() { # prints the PID of an active unit
  local u=$1 pid start
  pid=$(cat "$RUN/$u.pid" 2>/dev/null) || return 1
  start=$(cat "$RUN/$u.start" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(starttime "$pid")" = "$start" ] || return 1
  echo "$pid"
}

state_of() { # active | failed | inactive
  local u=$1
  if main_pid "$u" >/dev/null; then echo active
  elif [ -e "$RUN/$u.pid" ] || [ -e "$RUN/$u.failed" ]; then echo failed
  else echo inactive
  fi
}

# The loaded copy of a unit (load on first use); warns when the file on disk changed.
loaded_file() {
  local u=$1
  mkdir -p "$LOADED"
  if [ ! -e "$LOADED/$u" ]; then
    [ -f "$UNIT_DIR/$u" ] || return 1
    cp "$UNIT_DIR/$u" "$LOADED/$u"
  elif [ -f "$UNIT_DIR/$u" ] && ! cmp -s "$UNIT_DIR/$u" "$LOADED/$u"; then
    err "Warning: The unit file, source configuration file or drop-ins of $u changed on disk. Run 'systemctl daemon-reload' to reload units."
  fi
  echo "$LOADED/$u"
}

daemon_reload() {
  rm -rf "$LOADED"
  mkdir -p "$LOADED"
  local f
  for f in "$UNIT_DIR"/*.service; do
    [ -f "$f" ] && cp "$f" "$LOADED/"
  done
  return 0
}

# Prints "Section<TAB>Key=Value" lines, continuation lines joined.
unit_lines() {
  awk '
    function emit(l) {
      sub(/^[ \t]+/, "", l)
      if (l == "" || l ~ /^[#;]/) return
      if (l ~ /^\[.*\][ \t]*$/) { sec = l; sub(/[ \t]+$/, "", sec); return }
      print sec "\t" l
    }
    {
      line = $0
      if (buf != "") {
        t = line; sub(/^[ \t]+/, "", t)
        if (t ~ /^[#;]/) next            # comment lines inside a continuation are skipped
        line = buf " " t; buf = ""
      }
      if (line ~ /\\$/) { buf = substr(line, 1, length(line) - 1); next }
      emit(line)
    }
    END { if (buf != "") emit(buf) }
  ' "$1"
}

# Sets EXEC (array), ENVS (array of K=V), WORKDIR, DESC from a unit file.
parse_unit() {
  local f=$1 sec kv key val exec_line="" envfile
  EXEC=()
  ENVS=("PATH=$DAEMON_PATH" "LANG=C")
  WORKDIR=""
  DESC=""
  while IFS=$'\t' read -r sec kv; do
    key=${kv%%=*}
    val=${kv#*=}
    key=${key%"${key##*[![:space:]]}"}
    val=${val#"${val%%[![:space:]]*}"}
    case "$sec:$key" in
      "[Unit]:Description") DESC=$val ;;
      "[Service]:ExecStart") exec_line=$val ;; # the last one wins; "ExecStart=" resets
      "[Service]:WorkingDirectory") WORKDIR=$val ;;
      "[Service]:Environment")
        set -f
        eval "ENVS+=( $val )" 2>/dev/null || err "lab systemctl: cannot parse Environment=$val"
        set +f
        ;;
      "[Service]:EnvironmentFile")
        envfile=${val#-}
        if [ -f "$envfile" ]; then
          while IFS= read -r kv || [ -n "$kv" ]; do
            case $kv in '' | '#'* | ';'*) continue ;; esac
            kv=${kv#export }
            key=${kv%%=*}
            val=${kv#*=}
            val=${val#\"}; val=${val%\"}; val=${val#\'}; val=${val%\'}
            ENVS+=("$key=$val")
          done <"$envfile"
        elif [ "$val" = "$envfile" ]; then
          err "lab systemctl: EnvironmentFile $envfile not found"
          return 1
        fi
        ;;
    esac
  done < <(unit_lines "$f")
  exec_line=${exec_line#"${exec_line%%[!-@:+!]*}"}
  exec_line=${exec_line//%%/%}
  [ -n "$exec_line" ] || return 0
  # $VAR / ${VAR} in ExecStart come from Environment=, as in systemd
  local e
  for e in "${ENVS[@]}"; do
    case $e in [A-Za-z_]*=*) local "${e%%=*}=${e#*=}" 2>/dev/null ;; esac
  done
  set -f
  eval "EXEC=( $exec_line )" || { set +f; err "lab systemctl: cannot parse ExecStart=$exec_line"; return 1; }
  set +f
  return 0
}

start_unit() {
  local u=$1 f n pid start i code
  n=$(short "$u")
  if main_pid "$u" >/dev/null; then return 0; fi
  if ! f=$(loaded_file "$u"); then
    err "Failed to start $u: Unit $u not found."
    return 5
  fi
  parse_unit "$f" || return 1
  if [ "${#EXEC[@]}" -eq 0 ]; then
    err "Failed to start $u: Unit $u has no ExecStart= setting."
    return 1
  fi
  mkdir -p "$RUN" /var/log
  rm -f "$RUN/$u.failed" "$RUN/$u.pid" "$RUN/$u.start"
  local logf=/var/log/$n.log
  (
    if [ -n "$WORKDIR" ] && ! cd "${WORKDIR#-}" 2>/dev/null && [ "${WORKDIR:0:1}" != "-" ]; then
      echo "$n.service: Changing to the requested working directory failed: No such file or directory" >&2
      echo "$n.service: Failed at step CHDIR spawning ${EXEC[0]}: No such file or directory" >&2
      exit 200
    fi
    exec setsid env -i "${ENVS[@]}" "${EXEC[@]}"
  ) </dev/null >>"$logf" 2>&1 &
  pid=$!
  start=$(starttime "$pid") || start=""
  echo "$pid" >"$RUN/$u.pid"
  echo "$start" >"$RUN/$u.start"
  date '+%a %Y-%m-%d %H:%M:%S %Z' >"$RUN/$u.since"
  for i in 1 2 3 4 5; do
    sleep 0.03
    if [ -z "$start" ] || [ "$(starttime "$pid")" != "$start" ]; then
      wait "$pid" 2>/dev/null
      code=$?
      echo "$code" >"$RUN/$u.failed"
      err "Job for $u failed because the control process exited with error code."
      err "See \"systemctl status $u\" and \"journalctl -xeu $u\" for details."
      return 1
    fi
  done
  return 0
}

stop_unit() {
  local u=$1 n pid waited=0
  n=$(short "$u")
  if pid=$(main_pid "$u"); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    while [ -n "$(starttime "$pid")" ]; do
      if [ "$waited" -ge $((STOP_TIMEOUT_S * 20)) ]; then
        err "$u: State 'stop-sigterm' timed out. Killing."
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        waited=-1000000
      fi
      sleep 0.05
      waited=$((waited + 1))
    done
  fi
  rm -f "$RUN/$u.pid" "$RUN/$u.start" "$RUN/$u.failed" "$RUN/$u.since"
  return 0
}

unit_known() { [ -f "$UNIT_DIR/$1" ] || [ -f "$LOADED/$1" ]; }

status_unit() {
  local u=$1 n st pid enabled f comm
  n=$(short "$u")
  if ! unit_known "$u"; then
    err "Unit $u could not be found."
    return 4
  fi
  f=$(loaded_file "$u" 2>/dev/null)
  parse_unit "$f" 2>/dev/null
  enabled=disabled
  [ -e "$WANTS/$u" ] && enabled=enabled
  st=$(state_of "$u")
  local dot="○"
  [ "$st" = active ] && dot="●"
  [ "$st" = failed ] && dot="×"
  echo "$dot $u - ${DESC:-$u}"
  echo "     Loaded: loaded ($UNIT_DIR/$u; $enabled; preset: enabled)"
  case $st in
    active)
      pid=$(main_pid "$u")
      comm=$(cat "/proc/$pid/comm" 2>/dev/null)
      echo "     Active: active (running) since $(cat "$RUN/$u.since" 2>/dev/null)"
      echo "   Main PID: $pid ($comm)"
      ;;
    failed) echo "     Active: failed (Result: exit-code)" ;;
    *) echo "     Active: inactive (dead)" ;;
  esac
  echo "       Note: simulated by the test lab (no systemd); log: /var/log/$n.log"
  if [ -s "/var/log/$n.log" ]; then
    echo
    tail -n 10 "/var/log/$n.log"
  fi
  [ "$st" = active ] && return 0
  return 3
}

show_unit() {
  local u=$1 p val props
  props=${PROPS:-Id,LoadState,ActiveState,SubState,MainPID,UnitFileState}
  for p in ${props//,/ }; do
    case $p in
      Id) val=$u ;;
      MainPID | ExecMainPID) val=$(main_pid "$u") || val=0 ;;
      ActiveState) val=$(state_of "$u") ;;
      SubState) case $(state_of "$u") in active) val=running ;; failed) val=failed ;; *) val=dead ;; esac ;;
      LoadState) if unit_known "$u"; then val=loaded; else val=not-found; fi ;;
      UnitFileState) if [ -e "$WANTS/$u" ]; then val=enabled; else val=disabled; fi ;;
      FragmentPath) val=$UNIT_DIR/$u ;;
      *) val="" ;;
    esac
    if [ "$VALUE" = 1 ]; then echo "$val"; else echo "$p=$val"; fi
  done
}

# --- arguments ------------------------------------------------------------------
CMD=""
UNITS=()
while [ "$#" -gt 0 ]; do
  case $1 in
    -q | --quiet) QUIET=1 ;;
    --now) NOW=1 ;;
    --value) VALUE=1 ;;
    -p | --property) PROPS="${PROPS:+$PROPS,}$2"; shift ;;
    --property=*) PROPS="${PROPS:+$PROPS,}${1#--property=}" ;;
    -s | --signal) SIGNAL=${2#SIG}; shift ;;
    --signal=*) SIGNAL=${1#--signal=}; SIGNAL=${SIGNAL#SIG} ;;
    -n | --lines) shift ;;
    -*) ;; # --no-pager, --no-block, -l, --full, --system ...
    *) if [ -z "$CMD" ]; then CMD=$1; else UNITS+=("$(unit_name "$1")"); fi ;;
  esac
  shift
done

rc=0
case $CMD in
  start)
    for u in "${UNITS[@]}"; do start_unit "$u" || rc=$?; done ;;
  stop)
    for u in "${UNITS[@]}"; do stop_unit "$u" || rc=$?; done ;;
  restart | try-restart | reload-or-restart | force-reload | reload)
    for u in "${UNITS[@]}"; do
      if ! unit_known "$u"; then err "Failed to restart $u: Unit $u not found."; rc=5; continue; fi
      if [ "$CMD" = try-restart ] && ! main_pid "$u" >/dev/null; then continue; fi
      stop_unit "$u"
      start_unit "$u" || rc=$?
    done ;;
  is-active)
    rc=0
    for u in "${UNITS[@]}"; do
      st=$(state_of "$u")
      say "$st"
      [ "$st" = active ] || rc=3
    done ;;
  is-failed)
    rc=1
    for u in "${UNITS[@]}"; do
      st=$(state_of "$u")
      say "$st"
      [ "$st" = failed ] && rc=0
    done ;;
  status)
    for u in "${UNITS[@]}"; do status_unit "$u" || rc=$?; done ;;
  enable | disable)
    mkdir -p "$WANTS"
    for u in "${UNITS[@]}"; do
      if ! unit_known "$u"; then err "Failed to $CMD unit: Unit file $u does not exist."; rc=1; continue; fi
      if [ "$CMD" = enable ]; then
        if [ ! -e "$WANTS/$u" ]; then
          ln -sfn "$UNIT_DIR/$u" "$WANTS/$u"
          say "Created symlink $WANTS/$u → $UNIT_DIR/$u."
        fi
        [ "$NOW" = 1 ] && { start_unit "$u" || rc=$?; }
      else
        if [ -e "$WANTS/$u" ] || [ -L "$WANTS/$u" ]; then
          rm -f "$WANTS/$u"
          say "Removed \"$WANTS/$u\"."
        fi
        [ "$NOW" = 1 ] && stop_unit "$u"
      fi
    done ;;
  is-enabled)
    rc=0
    for u in "${UNITS[@]}"; do
      if [ -e "$WANTS/$u" ]; then say enabled; else say disabled; rc=1; fi
    done ;;
  daemon-reload | daemon-reexec)
    daemon_reload ;;
  reset-failed)
    for u in "${UNITS[@]}"; do main_pid "$u" >/dev/null || rm -f "$RUN/$u.failed" "$RUN/$u.pid"; done ;;
  kill)
    for u in "${UNITS[@]}"; do
      if pid=$(main_pid "$u"); then kill -"$SIGNAL" -- "-$pid" 2>/dev/null || kill -"$SIGNAL" "$pid"; fi
    done ;;
  show)
    for u in "${UNITS[@]}"; do show_unit "$u"; done ;;
  cat)
    for u in "${UNITS[@]}"; do
      if unit_known "$u"; then echo "# $UNIT_DIR/$u"; cat "$UNIT_DIR/$u"; else err "No files found for $u."; rc=1; fi
    done ;;
  list-units | "")
    for f in "$UNIT_DIR"/*.service; do
      [ -f "$f" ] || continue
      u=${f##*/}
      printf '%-30s loaded %-8s %s\n' "$u" "$(state_of "$u")" "simulated by the test lab"
    done ;;
  boot)
    # lab-only: what systemd does at boot for multi-user.target
    daemon_reload
    for l in "$WANTS"/*.service; do
      [ -e "$l" ] || continue
      u=${l##*/}
      [ -f "$UNIT_DIR/$u" ] || continue
      echo "lab systemctl boot: starting $u"
      start_unit "$u" || rc=$?
    done ;;
  *)
    err "Unknown command verb $CMD (lab systemctl stand-in)."
    rc=1 ;;
esac
exit "$rc"
