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
# A started unit runs under a supervisor (`systemctl __supervise UNIT`, setsid, one per unit) that spawns
# the service as a daemon: setsid, env -i (PATH + Environment=), stdin /dev/null, stdout+stderr appended to
# /var/log/<name>.log (etcd.service -> /var/log/etcd.log), PID in /run/lab-systemd/<unit>.pid
# (etcd.service.pid), and writes the unit's "ActiveState SubState Result" to /run/lab-systemd/<unit>.state.
# Type=notify: NOTIFY_SOCKET is a real unix datagram socket (socat UNIX-RECV) in /run/lab-systemd/notify;
# the unit is activating until READY=1 arrives, and killed (Result=timeout) after TimeoutStartSec
# (default 90 s). Restart= (always, on-failure, on-abnormal, on-abort, on-success, no) and RestartSec=
# apply, also after a start timeout. A WorkingDirectory= that does not exist fails the process with
# status 200/CHDIR. `start` blocks until the unit is ready (or failed, with systemd's "Job for ..."
# message); `--no-block` returns at once.
#
# Commands: start stop restart (try-restart reload-or-restart) is-active
# is-failed status enable disable (--now) is-enabled daemon-reload kill
# reset-failed show (-p ActiveState,SubState,Result,MainPID,ExecMainStatus,NRestarts,...
# [--value]) cat list-units, and the lab-only `boot` (daemon-reload + start --no-block
# every enabled unit; node-init.sh runs it at node start). Unknown options such as --no-pager
# are ignored. See test/lab/README.md.
set -u

UNIT_DIR=/etc/systemd/system
WANTS=$UNIT_DIR/multi-user.target.wants
RUN=/run/lab-systemd
LOADED=$RUN/loaded
# systemd's default PATH, plus /etc/lab-bin last for the lab's `node` link
DAEMON_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/etc/lab-bin
# DefaultTimeoutStartSec= / DefaultTimeoutStopSec= of systemd
DEFAULT_TIMEOUT_MS=90000
SELF=$(readlink -f -- "$0")
NOBLOCK=0

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

# The unit's supervisor (one per started unit, see supervise) is alive.
sup_alive() {
  local pid start
  pid=$(cat "$RUN/$1.sup" 2>/dev/null) || return 1
  start=$(cat "$RUN/$1.supstart" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(starttime "$pid")" = "$start" ]
}

# "ActiveState SubState Result" as systemd has them
state_line() {
  local u=$1 a s r
  if ! read -r a s r 2>/dev/null <"$RUN/$u.state"; then echo "inactive dead success"; return 0; fi
  case $a in
    activating | active | deactivating) sup_alive "$u" || { a=failed; s=failed; r=resources; } ;;
  esac
  echo "$a $s $r"
}

state_of() { # active | activating | failed | inactive
  local l
  l=$(state_line "$1")
  echo "${l%% *}"
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

# A systemd time span ("20", "20s", "1min 30s", "500ms", "infinity") in ms; infinity is 0 (no limit).
span_ms() {
  local s=${1// /} total=0 n unit m
  [ "$s" = infinity ] && { echo 0; return 0; }
  [ -n "$s" ] || return 1
  while [ -n "$s" ]; do
    n=${s%%[!0-9.]*}
    s=${s#"$n"}
    unit=${s%%[0-9.]*}
    s=${s#"$unit"}
    [ -n "$n" ] || return 1
    case $unit in
      '' | s | sec | second | seconds) m=1000 ;;
      ms | msec) m=1 ;;
      m | min | minute | minutes) m=60000 ;;
      h | hr | hour | hours) m=3600000 ;;
      *) return 1 ;;
    esac
    total=$(awk -v t="$total" -v n="$n" -v m="$m" 'BEGIN { printf "%d", t + n * m }')
  done
  echo "$total"
}

# Sets EXEC (array), ENVS (array of K=V), WORKDIR, DESC, TYPE, RESTART, RESTART_MS, TIMEOUT_START_MS and
# TIMEOUT_STOP_MS from a unit file.
parse_unit() {
  local f=$1 sec kv key val exec_line="" envfile
  EXEC=()
  ENVS=("PATH=$DAEMON_PATH" "LANG=C")
  WORKDIR=""
  DESC=""
  TYPE=simple
  RESTART=no
  RESTART_MS=100
  TIMEOUT_START_MS=$DEFAULT_TIMEOUT_MS
  TIMEOUT_STOP_MS=$DEFAULT_TIMEOUT_MS
  while IFS=$'\t' read -r sec kv; do
    key=${kv%%=*}
    val=${kv#*=}
    key=${key%"${key##*[![:space:]]}"}
    val=${val#"${val%%[![:space:]]*}"}
    case "$sec:$key" in
      "[Unit]:Description") DESC=$val ;;
      "[Service]:ExecStart") exec_line=$val ;; # the last one wins; "ExecStart=" resets
      "[Service]:WorkingDirectory") WORKDIR=$val ;;
      "[Service]:Type") TYPE=${val:-simple} ;;
      "[Service]:Restart") RESTART=${val:-no} ;;
      "[Service]:RestartSec") RESTART_MS=$(span_ms "$val") || { err "lab systemctl: bad RestartSec=$val"; return 1; } ;;
      "[Service]:TimeoutStartSec") TIMEOUT_START_MS=$(span_ms "$val") || { err "lab systemctl: bad TimeoutStartSec=$val"; return 1; } ;;
      "[Service]:TimeoutStopSec") TIMEOUT_STOP_MS=$(span_ms "$val") || { err "lab systemctl: bad TimeoutStopSec=$val"; return 1; } ;;
      "[Service]:TimeoutSec")
        TIMEOUT_START_MS=$(span_ms "$val") || { err "lab systemctl: bad TimeoutSec=$val"; return 1; }
        TIMEOUT_STOP_MS=$TIMEOUT_START_MS ;;
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

now_ms() { date +%s%3N; }

# systemd's own lines in the unit's journal (the unit's log file)
jlog() { echo "$(date '+%b %d %H:%M:%S') $(hostname) systemd[1]: $*" >>"/var/log/$(short "$U").log"; }

set_state() { # ActiveState SubState Result
  echo "$1 $2 $3" >"$RUN/$U.state.tmp" && mv -f "$RUN/$U.state.tmp" "$RUN/$U.state"
}

# The outcome of start attempt N, for a `systemctl start` that waits: done | timeout | exit-code | signal | resources
job_done() { echo "$1 $2" >"$RUN/$U.job.tmp" && mv -f "$RUN/$U.job.tmp" "$RUN/$U.job"; }

alive() { [ -n "$(starttime "$1")" ]; }

# SIGTERM to the service's process group, SIGKILL after TimeoutStopSec
term_kill() {
  local pid=$1 deadline
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  deadline=$(($(now_ms) + ${TIMEOUT_STOP_MS:-$DEFAULT_TIMEOUT_MS}))
  while alive "$pid"; do
    if [ "$(now_ms)" -ge "$deadline" ]; then
      jlog "$U: State 'stop-sigterm' timed out. Killing."
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
      deadline=$((deadline + 3600000))
    fi
    sleep 0.05
  done
}

# sleep up to MS, cut short by a `systemctl start` while in auto-restart (the kick file)
restart_wait() {
  local until=$(($(now_ms) + $1))
  while [ "$(now_ms)" -lt "$until" ]; do
    [ -e "$RUN/$U.kick" ] && break
    sleep 0.1
  done
  rm -f "$RUN/$U.kick"
}

# One per started unit (setsid, its own process group): runs the service, waits for READY=1 on the unit's
# NOTIFY_SOCKET (Type=notify) up to TimeoutStartSec, restarts it as Restart=/RestartSec= say, and writes the
# unit's state. `systemctl stop` SIGKILLs this process group and then stops the service.
supervise() {
  U=$1
  local n f attempt=0 pid code result ready sock rpid i restart nrestarts=0 how
  n=$(short "$U")
  for i in $(seq 1 200); do [ -e "$RUN/$U.go" ] && break; sleep 0.01; done
  rm -f "$RUN/$U.go"
  local logf=/var/log/$n.log
  while :; do
    attempt=$((attempt + 1))
    echo "$attempt" >"$RUN/$U.attempt"
    f=$LOADED/$U
    [ -f "$f" ] || f=$(loaded_file "$U" 2>/dev/null)
    if ! parse_unit "$f" 2>>"$logf" || [ "${#EXEC[@]}" -eq 0 ]; then
      set_state failed failed resources
      job_done "$attempt" resources
      return 0
    fi
    set_state activating start success
    rpid=""
    sock=""
    rm -f "$RUN/$U.notify"
    if [ "$TYPE" = notify ]; then
      mkdir -p "$RUN/notify"
      sock=$RUN/notify/$U.sock
      rm -f "$sock"
      socat -u "UNIX-RECV:$sock" "OPEN:$RUN/$U.notify,creat,append" </dev/null >/dev/null 2>>"$logf" &
      rpid=$!
      for i in $(seq 1 300); do [ -S "$sock" ] && break; sleep 0.01; done
    fi
    jlog "Starting ${DESC:-$U}..."
    (
      if [ -n "$WORKDIR" ] && ! cd "${WORKDIR#-}" 2>/dev/null && [ "${WORKDIR:0:1}" != "-" ]; then
        jlog "$U: Changing to the requested working directory failed: No such file or directory"
        jlog "$U: Failed at step CHDIR spawning ${EXEC[0]}: No such file or directory"
        exit 200
      fi
      exec setsid env -i "${ENVS[@]}" ${sock:+"NOTIFY_SOCKET=$sock"} "${EXEC[@]}"
    ) </dev/null >>"$logf" 2>&1 &
    pid=$!
    echo "$pid" >"$RUN/$U.pid"
    starttime "$pid" >"$RUN/$U.start" || : >"$RUN/$U.start"
    date '+%a %Y-%m-%d %H:%M:%S %Z' >"$RUN/$U.since"
    result=success
    ready=0
    if [ "$TYPE" = notify ]; then
      local deadline=0
      [ "$TIMEOUT_START_MS" -gt 0 ] && deadline=$(($(now_ms) + TIMEOUT_START_MS))
      while :; do
        if [ -s "$RUN/$U.notify" ] && grep -q 'READY=1' "$RUN/$U.notify"; then ready=1; break; fi
        alive "$pid" || break
        if [ "$deadline" -gt 0 ] && [ "$(now_ms)" -ge "$deadline" ]; then
          result=timeout
          jlog "$U: start operation timed out. Terminating."
          term_kill "$pid"
          break
        fi
        sleep 0.1
      done
    else
      ready=1
    fi
    if [ "$ready" = 1 ]; then
      set_state active running success
      date '+%a %Y-%m-%d %H:%M:%S %Z' >"$RUN/$U.since"
      jlog "Started ${DESC:-$U}."
      job_done "$attempt" done
    fi
    wait "$pid"
    code=$?
    [ -n "$rpid" ] && { kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; }
    [ -n "$sock" ] && rm -f "$sock"
    if [ "$code" -gt 128 ] && [ "$code" -lt 160 ]; then
      local sig
      sig=$(kill -l $((code - 128)) 2>/dev/null)
      how="code=killed, signal=$sig"
      echo "2 $((code - 128))" >"$RUN/$U.exit"
      # SIGHUP, SIGINT, SIGTERM and SIGPIPE are clean exits for systemd
      case $sig in HUP | INT | TERM | PIPE) ;; *) [ "$result" = success ] && result=signal ;; esac
      jlog "$U: Main process exited, $how"
    else
      how="code=exited, status=$code"
      [ "$code" = 200 ] && how="$how/CHDIR"
      echo "1 $code" >"$RUN/$U.exit"
      [ "$code" != 0 ] && [ "$result" = success ] && result=exit-code
      jlog "$U: Main process exited, $how"
    fi
    echo "$how" >"$RUN/$U.how"
    [ "$ready" = 1 ] || job_done "$attempt" "$result"
    [ "$result" = success ] || jlog "$U: Failed with result '$result'."
    case $RESTART in
      always) restart=1 ;;
      on-failure) [ "$result" = success ] && restart=0 || restart=1 ;;
      on-abnormal) case $result in signal | timeout) restart=1 ;; *) restart=0 ;; esac ;;
      on-abort) [ "$result" = signal ] && restart=1 || restart=0 ;;
      on-success) [ "$result" = success ] && restart=1 || restart=0 ;;
      *) restart=0 ;;
    esac
    if [ "$restart" = 0 ]; then
      if [ "$result" = success ]; then set_state inactive dead success; else set_state failed failed "$result"; jlog "Failed to start ${DESC:-$U}."; fi
      date '+%a %Y-%m-%d %H:%M:%S %Z' >"$RUN/$U.since"
      return 0
    fi
    set_state activating auto-restart "$result"
    restart_wait "$RESTART_MS"
    nrestarts=$((nrestarts + 1))
    echo "$nrestarts" >"$RUN/$U.nrestarts"
    jlog "$U: Scheduled restart job, restart counter is at $nrestarts."
  done
}

# Waits for the outcome of start attempt N (from supervise) and reports it as systemctl start does.
wait_job() {
  local u=$1 want=$2 got outcome
  while :; do
    if read -r got outcome 2>/dev/null <"$RUN/$u.job" && [ "$got" -ge "$want" ]; then
      case $outcome in
        done) return 0 ;;
        timeout) err "Job for $u failed because a timeout was exceeded." ;;
        resources) err "Job for $u failed because of unavailable resources or another system error." ;;
        *) err "Job for $u failed because the control process exited with error code." ;;
      esac
      err "See \"systemctl status $u\" and \"journalctl -xeu $u\" for details."
      return 1
    fi
    if ! sup_alive "$u" && ! { read -r got outcome 2>/dev/null <"$RUN/$u.job" && [ "$got" -ge "$want" ]; }; then
      err "Job for $u canceled."
      return 1
    fi
    sleep 0.1
  done
}

start_unit() {
  local u=$1 f sub attempt
  if sup_alive "$u"; then
    # running, activating or waiting to restart: systemd joins (or, in auto-restart, starts at once) that job
    sub=$(state_line "$u")
    case $sub in active\ *) return 0 ;; esac
    attempt=$(cat "$RUN/$u.attempt" 2>/dev/null) || attempt=1
    case $sub in *\ auto-restart\ *) attempt=$((attempt + 1)); : >"$RUN/$u.kick" ;; esac
    [ "$NOBLOCK" = 1 ] && return 0
    wait_job "$u" "$attempt"
    return
  fi
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
  rm -f "$RUN/$u".{pid,start,state,job,attempt,kick,exit,how,nrestarts,sup,supstart,go}
  setsid "$SELF" __supervise "$u" </dev/null >>/var/log/lab-systemd.log 2>&1 &
  local sup=$!
  echo "$sup" >"$RUN/$u.sup"
  starttime "$sup" >"$RUN/$u.supstart"
  U=$u set_state activating start success
  : >"$RUN/$u.go"
  [ "$NOBLOCK" = 1 ] && return 0
  wait_job "$u" 1
}

stop_unit() {
  local u=$1 pid sup
  if sup_alive "$u"; then
    sup=$(cat "$RUN/$u.sup")
    kill -KILL -- "-$sup" 2>/dev/null || kill -KILL "$sup" 2>/dev/null
  fi
  if pid=$(main_pid "$u"); then
    f=$(loaded_file "$u" 2>/dev/null) && parse_unit "$f" 2>/dev/null
    U=$u term_kill "$pid"
  fi
  rm -f "$RUN/notify/$u.sock"
  rm -f "$RUN/$u".{pid,start,state,job,attempt,kick,exit,how,nrestarts,sup,supstart,go,since,notify}
  return 0
}
unit_known() { [ -f "$UNIT_DIR/$1" ] || [ -f "$LOADED/$1" ]; }

status_unit() {
  local u=$1 n st pid enabled f comm a sub r since
  n=$(short "$u")
  if ! unit_known "$u"; then
    err "Unit $u could not be found."
    return 4
  fi
  f=$(loaded_file "$u" 2>/dev/null)
  parse_unit "$f" 2>/dev/null
  enabled=disabled
  [ -e "$WANTS/$u" ] && enabled=enabled
  read -r a sub r <<<"$(state_line "$u")"
  since=$(cat "$RUN/$u.since" 2>/dev/null)
  local dot="○"
  [ "$a" = active ] && dot="●"
  [ "$a" = activating ] && dot="●"
  [ "$a" = failed ] && dot="×"
  echo "$dot $u - ${DESC:-$u}"
  echo "     Loaded: loaded ($UNIT_DIR/$u; $enabled; preset: enabled)"
  case $a:$sub in
    active:*) echo "     Active: active (running) since $since" ;;
    activating:auto-restart) echo "     Active: activating (auto-restart) (Result: $r) since $since" ;;
    activating:*) echo "     Active: activating (start) since $since" ;;
    failed:*) echo "     Active: failed (Result: $r) since $since" ;;
    *) echo "     Active: inactive (dead)" ;;
  esac
  if pid=$(main_pid "$u"); then
    comm=$(cat "/proc/$pid/comm" 2>/dev/null)
    echo "   Main PID: $pid ($comm)"
  elif [ -e "$RUN/$u.how" ]; then
    echo "   Main PID: $(cat "$RUN/$u.pid" 2>/dev/null) ($(cat "$RUN/$u.how"))"
  fi
  echo "       Note: simulated by the test lab (lab-systemctl.sh); log: /var/log/$n.log"
  if [ -s "/var/log/$n.log" ]; then
    echo
    tail -n 10 "/var/log/$n.log"
  fi
  [ "$a" = active ] && return 0
  return 3
}

show_unit() {
  local u=$1 p val props a sub r f
  props=${PROPS:-Id,LoadState,ActiveState,SubState,Result,MainPID,UnitFileState}
  read -r a sub r <<<"$(state_line "$u")"
  f=$(loaded_file "$u" 2>/dev/null) && parse_unit "$f" 2>/dev/null
  for p in ${props//,/ }; do
    case $p in
      Id) val=$u ;;
      MainPID) val=$(main_pid "$u") || val=0 ;;
      ExecMainPID) val=$(cat "$RUN/$u.pid" 2>/dev/null) || val=0 ;;
      ExecMainCode) val=$(cut -d' ' -f1 "$RUN/$u.exit" 2>/dev/null) || val=0 ;;
      ExecMainStatus) val=$(cut -d' ' -f2 "$RUN/$u.exit" 2>/dev/null) || val=0 ;;
      NRestarts) val=$(cat "$RUN/$u.nrestarts" 2>/dev/null) || val=0 ;;
      ActiveState) val=$a ;;
      SubState) val=$sub ;;
      Result) val=$r ;;
      Type) val=${TYPE:-simple} ;;
      Restart) val=${RESTART:-no} ;;
      RestartUSec) val=$((${RESTART_MS:-100} * 1000)) ;;
      TimeoutStartUSec) if [ "${TIMEOUT_START_MS:-0}" = 0 ]; then val=infinity; else val=$((TIMEOUT_START_MS * 1000)); fi ;;
      WorkingDirectory) val=$WORKDIR ;;
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
    --no-block) NOBLOCK=1 ;;
    -*) ;; # --no-pager, -l, --full, --system ...
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
    for u in "${UNITS[@]}"; do [ "$(state_of "$u")" = failed ] && rm -f "$RUN/$u".{state,job,attempt,exit,how,nrestarts,sup,supstart}; done ;;
  kill)
    for u in "${UNITS[@]}"; do
      if pid=$(main_pid "$u"); then kill -"$SIGNAL" -- "-$pid" 2>/dev/null || kill -"$SIGNAL" "$pid"; fi
    done ;;
  __supervise)
    supervise "${UNITS[0]}" ;;
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
      NOBLOCK=1 start_unit "$u" || rc=$?
    done ;;
  *)
    err "Unknown command verb $CMD (lab systemctl stand-in)."
    rc=1 ;;
esac
exit "$rc"
