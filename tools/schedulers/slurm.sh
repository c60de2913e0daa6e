#!/usr/bin/env bash
# Bring up (or down) a real single-node Slurm on this machine, for parlay's scheduler tests.
#
#   bash tools/schedulers/slurm.sh up DIR     # install if needed, configure, start, wait until usable
#   bash tools/schedulers/slurm.sh down DIR   # cancel leftover jobs, stop the daemons started from DIR
#
# `up` prints shell `export` lines on stdout and logs on stderr; use it as
#   o=$(bash tools/schedulers/slurm.sh up /tmp/parlay-slurm) && eval "$o"
# (plain `eval "$(...)"` would hide a failed bring-up: eval of an empty string succeeds).
#
# Everything (config, munge key and socket, state, spool, logs, PID files) lives under DIR.
# The daemons (munged, slurmctld, slurmd) run as root in the foreground, detached with setsid;
# no systemd and no cgroups are needed. `up` is idempotent: if DIR's cluster already answers,
# it only prints the exports again.
#
# Needs root and apt (Debian 12: slurm-wlm 22.05, munge 0.5).
#
# Settings (environment):
#   PARLAY_SLURM_CTLD_PORT    slurmctld port            (default 6817)
#   PARLAY_SLURM_SLURMD_PORT  slurmd port               (default 6818)
#   PARLAY_SLURM_NODE         node name                 (default localnode)
#   PARLAY_SLURM_TIMEOUT      seconds to wait for idle  (default 60)
set -euo pipefail

readonly PARTITION=debug
readonly CTLD_PORT=${PARLAY_SLURM_CTLD_PORT:-6817}
readonly SLURMD_PORT=${PARLAY_SLURM_SLURMD_PORT:-6818}
readonly NODE=${PARLAY_SLURM_NODE:-localnode}
readonly TIMEOUT=${PARLAY_SLURM_TIMEOUT:-60}
readonly PACKAGES=(slurmctld slurmd slurm-client munge)

DIR=
CONF=
SOCKET=

# shared helpers: log, die, pid_of, running, print_tails, apt_install, check_ports, stop_daemons, main...
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Fail after a daemon misbehaved: show the end of what each daemon printed.
die_with_logs() {
    log "ERROR: $*"
    # DIR/log/NAME.out holds everything a daemon logged, early errors (bad config) included.
    print_tails 20 "$DIR"/log/*.out
    log "stopping the daemons started so far"
    stop_daemons 10 slurmd slurmctld
    stop_daemons 10 munged
    exit 1
}

set_paths() {
    CONF=$DIR/etc/slurm.conf
    SOCKET=$DIR/munge/munge.socket
}

# ---------------------------------------------------------------- up steps

install_packages() {
    local cmd
    for cmd in slurmctld slurmd sbatch munged mungekey; do
        if ! command -v "$cmd" >/dev/null; then
            log "installing ${PACKAGES[*]} with apt"
            apt_install "${PACKAGES[@]}"
            return
        fi
    done
}

# The cluster in DIR is up when all three daemons from our PID files live and the node is usable.
already_up() {
    running munged && running slurmctld && running slurmd && [[ -f $CONF ]] || return 1
    local state
    state=$(SLURM_CONF=$CONF timeout 10 sinfo -h -N -n "$NODE" -o %T 2>/dev/null) || return 1
    [[ $state =~ ^(idle|mixed|allocated)$ ]]
}

make_layout() {
    mkdir -p "$DIR"/{etc,state,spool,log,pids,munge}
    rm -rf "${DIR:?}"/state/* "${DIR:?}"/spool/*
    rm -f "$DIR"/log/*.log "$DIR"/log/*.out
    # Non-root users must be able to reach the munge socket and read slurm.conf.
    chmod 755 "$DIR" "$DIR/etc" "$DIR/munge"
}

make_munge_key() {
    if [[ ! -s $DIR/munge/munge.key ]]; then
        mungekey --create --keyfile="$DIR/munge/munge.key" >&2 || die "mungekey failed"
    fi
    chmod 600 "$DIR/munge/munge.key"
}

write_config() {
    local mem_mb
    # RealMemory lets jobs ask for --mem; with config_overrides it is not checked against the hardware.
    mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    cat >"$CONF" <<EOF
# Written by tools/schedulers/slurm.sh: a single-node cluster for tests. Do not edit by hand.
ClusterName=parlay
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root

# munge with our own key and socket
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET

StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/state/slurmctld.pid
SlurmdPidFile=$DIR/spool/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/etc/plugstack.conf
MailProg=/bin/true

# No systemd and no cgroup delegation: track processes by parent PID, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none

# No slurmdbd, so no accounting (sacct does not work); finished jobs are appended to a text file
# and stay visible to 'scontrol show job' for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MinJobAge=300

# Several jobs share the node, one core each by default.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# The default batch_sched_delay (3 s) holds every new batch job for about 3 s.
SchedulerParameters=batch_sched_delay=0

# Trust the node line below even if the detected hardware differs (otherwise the node drains).
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
InactiveLimit=0

NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    : >"$DIR/etc/plugstack.conf"
}

# Start "$@" as daemon NAME: new session, no terminal, output to DIR/log/NAME.out.
# The daemons run in the foreground, so $! is their PID (setsid execs without forking here,
# because a background child of a non-interactive shell is not a process-group leader).
start_daemon() {
    local name=$1
    shift
    setsid "$@" </dev/null >"$DIR/log/$name.out" 2>&1 &
    echo "$!" >"$DIR/pids/$name.pid"
}

start_munged() {
    start_daemon munged munged --foreground --force \
        --key-file="$DIR/munge/munge.key" --socket="$SOCKET" \
        --pid-file="$DIR/munge/munged.pid" --seed-file="$DIR/munge/munged.seed" \
        --log-file="$DIR/log/munged.log"
    local _
    for _ in $(seq 100); do
        [[ -S $SOCKET ]] && break
        running munged || die_with_logs "munged exited"
        sleep 0.05
    done
    [[ -S $SOCKET ]] || die_with_logs "munged did not create $SOCKET"
    munge --socket="$SOCKET" --no-input | unmunge --socket="$SOCKET" >/dev/null ||
        die_with_logs "munge credential round trip failed"
}

# slurmctld sometimes receives a SIGTERM from nowhere a few milliseconds after it starts (seen right after
# another Slurm on this machine was stopped, about one start in three); it then exits cleanly. So it is
# started alone, given up to 3 attempts to answer `scontrol ping`, and only then is slurmd started.
start_slurm() {
    local attempt _
    for attempt in 1 2 3; do
        # -c: start without the previous state (down cancelled every job anyway).
        start_daemon slurmctld slurmctld -D -c -f "$CONF"
        for _ in $(seq 600); do  # 60 s at least: a busy 2-core machine starts it slowly
            running slurmctld || break
            SLURM_CONF=$CONF timeout 5 scontrol ping 2>/dev/null | grep -q UP && break 2
            sleep 0.1
        done
        running slurmctld && die_with_logs "slurmctld does not answer scontrol ping after 60 s"
        log "slurmctld exited while starting (attempt $attempt: $(tail -n 1 "$DIR/log/slurmctld.log" 2>/dev/null)); retrying"
        sleep 1
    done
    running slurmctld || die_with_logs "slurmctld exited at each of 3 starts"
    start_daemon slurmd slurmd -D -N "$NODE" -f "$CONF"
}

wait_until_idle() {
    local deadline=$((SECONDS + TIMEOUT)) state=
    while ((SECONDS < deadline)); do
        running slurmctld || die_with_logs "slurmctld exited"
        running slurmd || die_with_logs "slurmd exited"
        state=$(SLURM_CONF=$CONF timeout 10 sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true)
        [[ $state == idle ]] && return 0
        sleep 0.2
    done
    die_with_logs "node $NODE not idle after ${TIMEOUT}s (state: '${state:-no answer}')"
}

print_exports() {
    printf 'export SLURM_CONF=%q\n' "$CONF"
    printf 'export PARLAY_TEST_SLURM_PARTITION=%q\n' "$PARTITION"
}

cmd_up() {
    local t0
    t0=$(now)
    install_packages
    if already_up; then
        log "already up in $DIR"
        print_exports
        return 0
    fi
    if compgen -G "$DIR/pids/*.pid" >/dev/null; then
        log "leftovers of an earlier start in $DIR: stopping them first"
        cmd_down
    fi
    check_ports "choose other ports with PARLAY_SLURM_CTLD_PORT / PARLAY_SLURM_SLURMD_PORT" \
        "$CTLD_PORT" "$SLURMD_PORT"
    ensure_host_resolves
    make_layout
    make_munge_key
    write_config
    start_munged
    start_slurm
    wait_until_idle
    log "up in $(since "$t0")s: node $NODE idle, $(nproc) CPUs, partition $PARTITION, ports $CTLD_PORT/$SLURMD_PORT, dir $DIR"
    print_exports
}

# ---------------------------------------------------------------- down steps

# Cancel every job while slurmctld still answers, and wait until they are gone, so that
# no slurmstepd or job process outlives the daemons.
cancel_jobs() {
    running slurmctld && [[ -f $CONF ]] || return 0
    export SLURM_CONF=$CONF
    local ids
    ids=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ') || true
    [[ -n ${ids// /} ]] || return 0
    log "cancelling jobs: $ids"
    # shellcheck disable=SC2086  # a list of job ids
    timeout 10 scancel $ids >&2 || true
    local _
    for _ in $(seq 100); do
        [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null) ]] && return 0
        sleep 0.2
    done
    log "warning: jobs still listed after 20 s: $(timeout 5 squeue -h -o '%i %T' 2>/dev/null | tr '\n' ' ')"
}

cmd_down() {
    if ! compgen -G "$DIR/pids/*.pid" >/dev/null; then
        log "nothing to stop in $DIR"
        return 0
    fi
    cancel_jobs
    # munged last: the Slurm daemons may still authenticate messages while they shut down.
    stop_daemons 10 slurmd slurmctld
    stop_daemons 10 munged
}

main "$@"
