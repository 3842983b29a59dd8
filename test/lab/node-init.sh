#!/usr/bin/env bash
# PID 1 of one simulated master node of the test lab (see lab.ts / README.md).
#
# Started by lab.ts as:
#   unshare --mount --uts --pid --fork --mount-proc --propagation private \
#     bash node-init.sh HOSTNAME ADDRESS PORT NODE_STATE_DIR AUTHORIZED_KEYS_FILE [HOSTS_FILE [ETCD_MODE]]
#
# It builds the node's private view of the machine inside its own mount
# namespace (nothing here is visible on the host):
#   /etc, /var/lib        overlayfs: lower = host dir, upper/work in NODE_STATE_DIR
#                         (survive a stop/start of the node, like a disk)
#   /root /tmp /var/log /run  fresh tmpfs (reset on every start, like a reboot)
#   /run/lab              bind mount of NODE_STATE_DIR (host key, sshd config, logs)
# With ETCD_MODE static-pod or systemd (see lab.ts), the first boot also copies
# NODE_STATE_DIR/seed (PKI, manifests, unit files) into /, and every boot
# installs the lab's stand-ins (systemctl, journalctl, kubelet, kube-apiserver)
# from NODE_STATE_DIR/bin into the node-private /etc/lab-bin and runs
# `systemctl boot` (start every enabled unit: kubelet, or etcd + kube-apiserver).
# It then runs a real OpenSSH sshd on ADDRESS:PORT only and stays alive until
# SIGTERM/SIGINT, or until its stdin (a socket/pipe from the lab process)
# reaches EOF, i.e. the process that started the lab is gone. When PID 1 exits,
# the kernel kills every other process of the node.
set -euo pipefail

if [ "$#" -lt 5 ]; then
  echo "usage: node-init.sh HOSTNAME ADDRESS PORT NODE_STATE_DIR AUTHORIZED_KEYS_FILE [HOSTS_FILE [ETCD_MODE]]" >&2
  exit 2
fi
NODE_HOSTNAME=$1
ADDRESS=$2
PORT=$3
STATE=$4
AUTH_KEYS_FILE=$5
HOSTS_FILE=${6:-}
ETCD_MODE=${7:-none}
case $ETCD_MODE in none | static-pod | systemd) ;; *) echo "node-init.sh: bad ETCD_MODE $ETCD_MODE" >&2; exit 2 ;; esac
LAB_BIN=/etc/lab-bin

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C HOME=/root

log() { echo "node-init[$NODE_HOSTNAME]: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[ "$$" -eq 1 ] || die "must run as PID 1 of a new pid namespace (unshare --pid --fork)"
[ -d "$STATE" ] || die "node state dir $STATE does not exist"

# Read everything that lives outside the node state dir before the mounts below
# hide it (the lab dir is usually under /tmp, which becomes a fresh tmpfs).
AUTH_KEYS=$(cat "$AUTH_KEYS_FILE") || die "cannot read $AUTH_KEYS_FILE"
EXTRA_HOSTS=""
if [ -n "$HOSTS_FILE" ]; then EXTRA_HOSTS=$(cat "$HOSTS_FILE") || die "cannot read $HOSTS_FILE"; fi

# --- mounts (all private to this mount namespace) ---------------------------
mount --make-rprivate /

# Keep a handle on the state dir through the cwd: it stays reachable as "."
# even after a tmpfs is mounted over one of its parent directories.
cd "$STATE"
mount -t tmpfs -o mode=755,size=64m lab-run /run
mkdir -p /run/lab
mount --bind . /run/lab
cd /run/lab
N=/run/lab

# overlayfs needs an upper dir on a filesystem with xattrs/tmpfile support; if
# the state dir itself is on overlayfs (e.g. inside a container), use a tmpfs
# for the upper layers (node state is then not kept across a node restart).
OVL=$N/ovl
mkdir -p "$OVL"
if [ "$(stat -f -c %T "$N")" = "overlayfs" ]; then
  mount -t tmpfs -o mode=700 lab-ovl "$OVL"
fi
# redirect_dir=on: rename(2) of a directory that also exists in the host's lower dir
# is a real rename instead of EXDEV (mv would silently fall back to copy+delete).
overlay() { # NAME DIR
  local o="lowerdir=$2,upperdir=$OVL/upper/$1,workdir=$OVL/work/$1"
  mkdir -p "$OVL/upper/$1" "$OVL/work/$1"
  mount -t overlay "lab-$1" -o "$o,redirect_dir=on" "$2" 2>/dev/null \
    || mount -t overlay "lab-$1" -o "$o" "$2" \
    || die "overlay mount on $2 failed"
}
overlay etc /etc
overlay var-lib /var/lib

mount -t tmpfs -o mode=700 lab-root /root
mount -t tmpfs -o mode=1777 lab-tmp /tmp
mount -t tmpfs -o mode=755 lab-log /var/log

# --- identity ----------------------------------------------------------------
echo "$NODE_HOSTNAME" > /proc/sys/kernel/hostname
echo "$NODE_HOSTNAME" > /etc/hostname
{
  echo "127.0.0.1	localhost"
  echo "::1	localhost ip6-localhost ip6-loopback"
  if [ -n "$EXTRA_HOSTS" ]; then echo "$EXTRA_HOSTS"; else echo "$ADDRESS	$NODE_HOSTNAME"; fi
} > /etc/hosts

# First boot of this node: start from an empty kubeadm/etcd layout instead of
# whatever the host has (the host's etcd-server package ships /var/lib/etcd).
# Later boots (lab.startNode) keep /etc and /var/lib like a real disk.
if [ ! -e "$N/initialized" ]; then
  rm -rf /etc/kubernetes /var/lib/etcd
  mkdir -p /etc/kubernetes/manifests /etc/kubernetes/pki/etcd
  install -d -m 700 /var/lib/etcd
  if [ "$ETCD_MODE" != none ]; then
    # no systemd here: hide the host's unit files and enable links (e.g. Debian's etcd.service)
    rm -rf /etc/systemd/system
    mkdir -p /etc/systemd/system/multi-user.target.wants
    # --no-overwrite-dir: keep the mode/owner of /etc and the other existing dirs
    [ -d "$N/seed" ] && tar -C "$N/seed" -cf - . | tar -C / -xf - --no-overwrite-dir
  fi
  touch "$N/initialized"
fi

if [ "$ETCD_MODE" != none ]; then
  # The lab's stand-ins, refreshed on every boot, in a node-private dir (/usr is the host's).
  install -d -m 755 "$LAB_BIN"
  for f in kubelet.mjs mini-yaml.mjs fake-apiserver.mjs fake-component.mjs; do install -m 755 "$N/bin/$f" "$LAB_BIN/$f"; done
  # The etcd "images": one dir of binaries per version from the lab's cache (etcd-dist.sh); the
  # kubelet runs etcd:<version> from there, a systemd unit names the binary there.
  ETCD_CACHE=$(cat "$N/bin/etcd-cache")
  ETCD_VERSION=$(cat "$N/bin/etcd-version")
  install -d -m 755 "$LAB_BIN/images/etcd"
  for d in "$ETCD_CACHE"/*/; do
    v=$(basename "$d")
    [ -e "$d/VERSION" ] && ln -sfn "${d%/}" "$LAB_BIN/images/etcd/$v"
  done
  [ -x "$LAB_BIN/images/etcd/$ETCD_VERSION/etcd" ] || die "no etcd $ETCD_VERSION in $ETCD_CACHE (test/lab/etcd-dist.sh)"
  if [ "$(cat "$N/bin/host-tools")" = yes ]; then
    # the member's own version of etcd, etcdctl (and etcdutl from 3.5) on the PATH of every login
    # ($LAB_BIN comes first there, before the machine's Debian 3.4 in /usr/bin)
    for b in etcd etcdctl etcdutl; do
      rm -f "$LAB_BIN/$b"
      [ -e "$LAB_BIN/images/etcd/$ETCD_VERSION/$b" ] && ln -sfn "images/etcd/$ETCD_VERSION/$b" "$LAB_BIN/$b"
    done
  else
    # a master whose etcd lives only inside the etcd image (or under a path not on PATH): the
    # machine's etcd binaries are removed from this node's view by an overlay with whiteouts
    for d in /usr/bin /usr/local/bin /usr/sbin; do
      name=hide$(echo "$d" | tr / -)
      hidden=0
      for b in etcd etcdctl etcdutl; do
        if [ -e "$d/$b" ]; then
          mkdir -p "$OVL/upper/$name"
          [ -e "$OVL/upper/$name/$b" ] || mknod "$OVL/upper/$name/$b" c 0 0
          hidden=1
        fi
      done
      [ "$hidden" = 1 ] && overlay "$name" "$d"
    done
    for b in etcd etcdctl etcdutl; do rm -f "$LAB_BIN/$b"; done
  fi
  install -m 755 "$N/bin/lab-systemctl.sh" "$LAB_BIN/systemctl"
  install -m 755 "$N/bin/lab-journalctl.sh" "$LAB_BIN/journalctl"
  ln -sfn kubelet.mjs "$LAB_BIN/kubelet"
  ln -sfn fake-apiserver.mjs "$LAB_BIN/kube-apiserver"
  # the stand-ins start with "#!/usr/bin/env node": make the lab's node binary findable
  # (lab-systemctl.sh has /etc/lab-bin last on the daemons' PATH)
  NODE_BIN=$(cat "$N/bin/node-path" 2>/dev/null || true)
  if [ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ]; then ln -sfn "$NODE_BIN" "$LAB_BIN/node"; fi
fi

# --- own root and login users (LabOptions.users; NODE_STATE_DIR/users exists) --
# The machine's / is mode 0700, so no unprivileged user can run anything under it. A node with
# login users gets a root of its own: a tmpfs of mode 0755 with every top-level directory of the
# node's current view bind-mounted into it (recursively, so /etc and /var/lib stay the node's
# overlays, /var/log, /tmp, /run, /root the node's tmpfs, /usr the machine's, /etc/lab-bin and
# the etcd cache as before), a fresh /proc of the node's PID namespace and a private /home. PID 1
# then pivot_roots into it; sshd and every later process (and lab.exec, which nsenters the mount
# namespace) see only the new root. Each user gets a real passwd/shadow/group entry in the node's
# /etc overlay (never the machine's), ~/.ssh/authorized_keys = the lab client key, and with "sudo"
# a NOPASSWD rule in /etc/sudoers.d. sudo itself is the machine's (setuid root), with its own
# PAM stack (/etc/pam.d/sudo); sshd then allows only these users (PermitRootLogin no).
LAB_USERS_FILE=$N/users
LAB_USERS=()
if [ -e "$LAB_USERS_FILE" ]; then mapfile -t LAB_USERS < "$LAB_USERS_FILE"; fi

enter_own_root() {
  mount -t tmpfs -o mode=755,size=1m lab-mnt /mnt
  local r=/mnt/root e name
  mkdir -m 755 "$r"
  mount -t tmpfs -o mode=755,size=16m lab-rootfs "$r"
  for e in /* /.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    name=${e#/}
    case $name in mnt | proc | home | lost+found) continue ;; esac
    if [ -L "$e" ]; then
      ln -s "$(readlink "$e")" "$r/$name"
    elif [ -d "$e" ]; then
      mkdir "$r/$name"
      mount --rbind "$e" "$r/$name"
    fi
  done
  mkdir -m 755 "$r/mnt" "$r/proc" "$r/home"
  mount -t proc lab-proc "$r/proc"
  mount -t tmpfs -o mode=755,size=16m lab-home "$r/home"
  mkdir "$r/.old-root"
  cd "$r"
  pivot_root . .old-root || die "pivot_root into $r failed"
  umount -l /.old-root
  rmdir /.old-root
  cd /run/lab
}

add_login_user() { # NAME sudo|nosudo
  local name=$1 rule=$2 id=1500 home=/home/$1
  [[ $name =~ ^[a-z_][a-z0-9_-]*$ ]] || die "bad lab user name $name"
  if ! grep -q "^$name:" /etc/passwd; then
    while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do id=$((id + 1)); done
    echo "$name:x:$id:$id:lab login user:$home:/bin/bash" >> /etc/passwd
    echo "$name:x:$id:" >> /etc/group
    # '*': no password, key-only (not '!', which sshd treats as a locked account)
    echo "$name:*:19000:0:99999:7:::" >> /etc/shadow
    [ -e /etc/gshadow ] && echo "$name:!::" >> /etc/gshadow
  fi
  install -d -m 755 -o "$name" -g "$name" "$home"
  install -d -m 700 -o "$name" -g "$name" "$home/.ssh"
  printf '%s\n' "$AUTH_KEYS" > "$home/.ssh/authorized_keys"
  chown "$name:$name" "$home/.ssh/authorized_keys"
  chmod 600 "$home/.ssh/authorized_keys"
  if [ "$rule" = sudo ]; then echo "$name ALL=(root) NOPASSWD: ALL"; fi
}

setup_login_users() {
  local line rules=""
  for line in "${LAB_USERS[@]}"; do
    # shellcheck disable=SC2086
    rules+=$(add_login_user $line)$'\n'
  done
  # sudo's secure_path replaces the PATH: the node-private stand-ins (systemctl, ...) first, as the
  # sshd session's PATH has them. Every sudo command is logged (the tests read who ran what).
  local f=/etc/sudoers.d/lab-users
  {
    echo "# generated by test/lab/node-init.sh"
    echo "Defaults secure_path=\"$LAB_BIN:$PATH\""
    echo "Defaults logfile=/var/log/sudo.log, loglinelen=0"
    printf '%s' "$rules"
  } > "$f.tmp"
  chmod 440 "$f.tmp"
  visudo -cq -f "$f.tmp" || die "visudo rejected $f"
  mv -f "$f.tmp" "$f"
}

if [ "${#LAB_USERS[@]}" -gt 0 ]; then
  enter_own_root
  setup_login_users
fi

mkdir -p /run/sshd /run/lock
chmod 755 /run/sshd
touch /var/log/wtmp /var/log/btmp /var/log/lastlog
install -d -m 700 /root/.ssh
printf '%s\n' "$AUTH_KEYS" > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys

# --- sshd --------------------------------------------------------------------
if [ ! -s "$N/ssh_host_ed25519_key" ]; then
  rm -f "$N/ssh_host_ed25519_key" "$N/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$NODE_HOSTNAME" -f "$N/ssh_host_ed25519_key"
fi
chmod 600 "$N/ssh_host_ed25519_key"

# who may log in: root by key, or (LabOptions.users) only the node's login users
if [ "${#LAB_USERS[@]}" -gt 0 ]; then
  SSHD_LOGIN_POLICY="PermitRootLogin no
AllowUsers $(printf '%s\n' "${LAB_USERS[@]}" | cut -d' ' -f1 | tr '\n' ' ')"
else
  SSHD_LOGIN_POLICY="PermitRootLogin prohibit-password"
fi

cat > "$N/sshd_config" <<EOF
# generated by test/lab/node-init.sh for $NODE_HOSTNAME
ListenAddress $ADDRESS:$PORT
AddressFamily inet
HostKey $N/ssh_host_ed25519_key
PidFile /run/sshd.pid
$SSHD_LOGIN_POLICY
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
StrictModes yes
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
PermitUserEnvironment no
# node-private stand-ins (systemctl, journalctl, ...) come first; /usr is shared with the host
SetEnv PATH=$LAB_BIN:$PATH
Subsystem sftp internal-sftp
MaxStartups 100:30:200
MaxSessions 100
LoginGraceTime 30
LogLevel INFO
EOF

/usr/sbin/sshd -t -f "$N/sshd_config" || die "sshd -t rejected $N/sshd_config"

set +e

SSHD_PID=""
shutdown() {
  trap - TERM INT
  log "shutting down"
  [ -n "$SSHD_PID" ] && kill -TERM "$SSHD_PID" 2>/dev/null
  exit 0
}
trap shutdown TERM INT

/usr/sbin/sshd -D -e -f "$N/sshd_config" </dev/null >>"$N/sshd.log" 2>&1 &
SSHD_PID=$!

# Watchdog: stdin is a socket/pipe whose other end only the lab process holds;
# EOF means that process died without stopping the lab, so take the node down.
# (An explicit redirection is needed: bash gives background jobs /dev/null as stdin.)
if [ -p /dev/stdin ] || [ -S /dev/stdin ]; then
  exec 3<&0
  ( cat <&3 >/dev/null 2>&1; kill -TERM 1 ) &
  exec 3<&-
fi
exec </dev/null

if [ "$ETCD_MODE" != none ]; then
  # like systemd at boot: start every enabled unit (kubelet, or etcd + kube-apiserver)
  ( "$LAB_BIN/systemctl" boot >>/var/log/lab-boot.log 2>&1 ) &
fi

log "up: sshd pid $SSHD_PID on $ADDRESS:$PORT"

# Wait for sshd. If it dies (or is killed to simulate a dead daemon), the node
# stays up (lab.exec keeps working) until it is told to stop.
while kill -0 "$SSHD_PID" 2>/dev/null; do
  wait "$SSHD_PID"
done
log "sshd (pid $SSHD_PID) exited; node stays up without sshd"
while :; do
  sleep 3600 &
  wait $!
done
