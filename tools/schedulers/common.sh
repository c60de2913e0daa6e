# shellcheck shell=bash
# Helpers shared by slurm.sh and sge.sh (sourced, not run). Each script defines DIR, set_paths (its files
# under DIR), cmd_up and cmd_down.

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

die() {
    log "ERROR: $*"
    exit 1
}

usage() {
    echo "usage: $0 up DIR | down DIR" >&2
    exit 2
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Print the PID recorded for daemon NAME if that process is alive *and* is really NAME
# (a stale PID file may point to a recycled PID that belongs to something else).
pid_of() {
    local name=$1 file=$DIR/pids/$1.pid pid comm
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    pid=${pid//[[:space:]]/}
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$name" ]] || return 1
    echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# print_tails LINES FILE...: the last LINES lines of each non-empty FILE, on stderr.
print_tails() {
    local lines=$1 f
    shift
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf -- '--- tail of %s\n' "$f" >&2
        tail -n "$lines" "$f" >&2
    done
}

# apt-get install "$@", quietly on stderr. Debian's postinst scripts would start the daemons for
# the cell "default" (and fail the install when that fails); where no policy-rc.d forbids that
# already, forbid it during the install (exit 101 = "action not allowed").
apt_install() {
    local policy=/usr/sbin/policy-rc.d ours=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        ours=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet: update once and retry.
    apt-get install -y -q --no-install-recommends "$@" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "$@" >&2; } ||
        rc=$?
    ((ours)) && rm -f "$policy"
    ((rc == 0)) || die "apt-get install $* failed"
}

# True if some process listens on TCP port $1 (any address, IPv4 or IPv6).
port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v port="$hex" 'FNR > 1 { split($2, a, ":"); if (a[length(a)] == port && $4 == "0A") found = 1 }
                        END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# check_ports HINT PORT...: die unless every PORT is free; HINT says how to choose others.
check_ports() {
    local hint=$1 port
    shift
    for port in "$@"; do
        port_in_use "$port" && die "TCP port $port is already in use; stop what holds it, or $hint"
    done
    return 0
}

# Daemons look this host up by name; a machine whose /etc/hosts lacks its own name gets one line for it.
ensure_host_resolves() {
    local host
    host=$(hostname)
    getent hosts "$host" >/dev/null && return
    log "the host name '$host' does not resolve: adding it to /etc/hosts as 127.0.1.1"
    printf '127.0.1.1\t%s\t# added by parlay tools/schedulers\n' "$host" >>/etc/hosts
}

# stop_daemons GRACE NAME...: SIGTERM the named daemons (by their PID files) together, wait up to GRACE
# seconds for them to exit (each takes seconds to shut down, hence not one after the other), then SIGKILL
# what is left.
stop_daemons() {
    local grace=$1 name pid _
    shift
    local -A pids=()
    for name in "$@"; do
        if pid=$(pid_of "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids[$name]=$pid
        else
            rm -f "$DIR/pids/$name.pid"
        fi
    done
    for name in "${!pids[@]}"; do
        pid=${pids[$name]}
        for _ in $(seq $((grace * 10))); do
            [[ -d /proc/$pid ]] || break
            sleep 0.1
        done
        if [[ -d /proc/$pid ]]; then
            log "$name ($pid) ignored SIGTERM for ${grace} s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                [[ -d /proc/$pid ]] || break
                sleep 0.1
            done
            [[ ! -d /proc/$pid ]] || die "$name ($pid) survived SIGKILL"
        fi
        log "stopped $name ($pid)"
        rm -f "$DIR/pids/$name.pid"
    done
}

main() {
    [[ $# == 2 ]] || usage
    [[ $(id -u) == 0 ]] || die "must run as root (apt, daemons running as root)"
    # absolute: the config files name DIR; whitespace would break them
    [[ $2 != *[[:space:]]* ]] || { log "ERROR: DIR must not contain whitespace: '$2'"; exit 2; }
    DIR=$(realpath -m -- "$2")
    set_paths
    case $1 in
        up)
            mkdir -p "$DIR"
            cmd_up
            ;;
        down) cmd_down ;;
        *) usage ;;
    esac
}

