#!/usr/bin/env bash
# Bring up (or down) a real single-host Grid Engine (Son of Grid Engine 8.1.9, Debian 12) on this
# machine, for parlay's scheduler tests.
#
#   bash tools/schedulers/sge.sh up DIR     # install if needed, build a cell, start, wait until usable
#   bash tools/schedulers/sge.sh down DIR   # delete leftover jobs, stop the daemons started from DIR
#
# `up` prints shell `export` lines on stdout and logs on stderr; use it as
#   o=$(bash tools/schedulers/sge.sh up /tmp/parlay-sge) && eval "$o"
# (plain `eval "$(...)"` would hide a failed bring-up: eval of an empty string succeeds).
#
# It builds its own cell (not Debian's "default" one) with classic flat-file spooling; all its
# files live under DIR/cell and DIR/spool. Grid Engine only looks for cells in SGE_ROOT, so
# $SGE_ROOT/$CELL is a symlink to DIR/cell. The cell has one execution host (this one), the
# queue all.q with one slot per CPU, the parallel environment smp, root may submit jobs, and the
# scheduler runs every second. The daemons (sge_qmaster, sge_execd) run as root. `up` is
# idempotent: if DIR's cell already answers, it only prints the exports again.
#
# Needs root and apt.
#
# Settings (environment):
#   PARLAY_SGE_CELL          cell name                  (default parlay)
#   PARLAY_SGE_QMASTER_PORT  sge_qmaster port           (default 6444)
#   PARLAY_SGE_EXECD_PORT    sge_execd port             (default 6445)
#   PARLAY_SGE_TIMEOUT       seconds to wait for all.q  (default 60)
set -euo pipefail

readonly QUEUE=all.q
readonly PE=smp
readonly PACKAGES=(gridengine-master gridengine-exec gridengine-client)
readonly SGE_LIB=/usr/lib/gridengine
readonly TIMEOUT=${PARLAY_SGE_TIMEOUT:-60}
HOST=$(hostname)
readonly HOST

# Every client command needs all four: without them Debian's wrappers in /usr/bin fall back to
# /etc/default/gridengine, i.e. the cell "default".
export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=${PARLAY_SGE_CELL:-parlay}
export SGE_QMASTER_PORT=${PARLAY_SGE_QMASTER_PORT:-6444}
export SGE_EXECD_PORT=${PARLAY_SGE_EXECD_PORT:-6445}

DIR=
COMMON=
# Daemons this run has launched (they write their own PID files a moment after they start).
STARTED=()

# shared helpers: log, die, pid_of, running, print_tails, apt_install, check_ports, stop_daemons, main...
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Fail after a daemon misbehaved: show the end of what the daemons wrote, stop what was started.
die_with_logs() {
    log "ERROR: $*"
    print_tails 15 "$DIR"/log/*.out "$DIR"/spool/qmaster/messages "$DIR"/spool/execd/*/messages
    if ((${#STARTED[@]})); then
        log "stopping the daemons started so far"
        wait_for_pid_files
        stop_daemons 30 sge_execd sge_qmaster
    fi
    unlink_cell
    exit 1
}

set_paths() {
    COMMON=$DIR/cell/common
}

# ---------------------------------------------------------------- up steps

install_packages() {
    if [[ -x $SGE_LIB/sge_qmaster && -x $SGE_LIB/sge_execd && -x $SGE_LIB/spoolinit ]] &&
        command -v qsub >/dev/null && command -v qconf >/dev/null; then
        return 0
    fi
    log "installing ${PACKAGES[*]} with apt (this also pulls in a mail transport agent)"
    # Tell the postinst not to build and configure a cell of its own: we build ours below.
    debconf-set-selections <<EOF
gridengine-common shared/gridengineconfig boolean false
gridengine-common shared/gridenginemaster string $HOST
gridengine-common shared/gridenginecell string default
EOF
    apt_install "${PACKAGES[@]}"
}

# all.q on this host is listed by `qstat -f` with no state flags (such as "au": alarm, unknown).
queue_ready() {
    timeout 10 qstat -f -q "$QUEUE" 2>/dev/null |
        awk -v q="$QUEUE@" 'index($1, q) == 1 && NF == 5 { ok = 1 } END { exit !ok }'
}

# DIR's cell is up when both daemons from our PID files live, the cell link points to DIR
# and the queue is usable.
already_up() {
    running sge_qmaster && running sge_execd || return 1
    [[ $(readlink "$SGE_ROOT/$SGE_CELL" 2>/dev/null) == "$DIR/cell" ]] || return 1
    queue_ready
}

# $SGE_ROOT/$SGE_CELL -> DIR/cell, unless that name is taken by a real cell or by a live
# cell of another DIR.
link_cell() {
    local link=$SGE_ROOT/$SGE_CELL target
    mkdir -p "$SGE_ROOT"
    if [[ -L $link ]]; then
        target=$(readlink "$link")
        if [[ $target != "$DIR/cell" ]] && [[ -s ${target%/cell}/pids/sge_qmaster.pid ]] &&
            [[ $(cat "/proc/$(<"${target%/cell}/pids/sge_qmaster.pid")/comm" 2>/dev/null) == sge_qmaster ]]; then
            die "cell '$SGE_CELL' is in use by a running Grid Engine in ${target%/cell}; choose another PARLAY_SGE_CELL"
        fi
    elif [[ -e $link ]]; then
        die "$link exists and is not a link made by this script; choose another PARLAY_SGE_CELL"
    fi
    ln -sfn "$DIR/cell" "$link"
}

# Names under which this host may show up: the names of its addresses and of 127.0.0.1, in
# /etc/hosts and in the resolver, plus localhost. Everything but $HOST itself, one per line.
host_names() {
    local ip
    {
        echo localhost
        for ip in 127.0.0.1 $(getent ahostsv4 "$HOST" | awk '{ print $1 }' | sort -u); do
            awk -v ip="$ip" '{ sub(/#.*/, "") } $1 == ip { for (i = 2; i <= NF; i++) print $i }' /etc/hosts
            getent hosts "$ip" | awk '{ for (i = 2; i <= NF; i++) print $i }'
        done
    } | grep -vxF "$HOST" | sort -u
}

# The cell's "common" files, as Debian's init_cluster and inst_sge would write them, except for
# classic spooling in DIR, root as admin user, and the host aliases.
write_cell() {
    rm -rf "$DIR/cell" "$DIR/spool"
    mkdir -p "$COMMON" "$DIR"/{spool/qmaster,spool/execd,log,pids,conf}
    rm -f "$DIR"/log/*.out "$DIR"/pids/*.pid
    # Non-root users must be able to read the cell files to submit jobs.
    chmod 755 "$DIR" "$DIR/cell" "$COMMON"
    link_cell

    cat >"$COMMON/bootstrap" <<EOF
# Version: 8.1.9
admin_user              root
default_domain          none
ignore_fqdn             true
spooling_method         classic
spooling_lib            libspoolc
spooling_params         $COMMON;$DIR/spool/qmaster
binary_path             /usr/sbin
qmaster_spool_dir       $DIR/spool/qmaster
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
EOF
    echo "$HOST" >"$COMMON/act_qmaster"
    echo "$SGE_CELL" >"$COMMON/cluster_name"

    # Clients connect to $HOST; qmaster sees them come from 127.0.0.1 (or the host's address),
    # resolves that back to e.g. "localhost", and refuses the mismatch with "access denied".
    # host_aliases makes every such name an alias of $HOST.
    echo "$HOST $(host_names | tr '\n' ' ')" >"$COMMON/host_aliases"

    # What `down` and humans need to talk to this cell later.
    cat >"$COMMON/settings.sh" <<EOF
SGE_ROOT=$SGE_ROOT; export SGE_ROOT
SGE_CELL=$SGE_CELL; export SGE_CELL
SGE_QMASTER_PORT=$SGE_QMASTER_PORT; export SGE_QMASTER_PORT
SGE_EXECD_PORT=$SGE_EXECD_PORT; export SGE_EXECD_PORT
EOF
}

# The global configuration is spooled before sge_qmaster starts: sge_execd reads it only when it
# starts, so changing e.g. min_uid later would not reach a running execd (jobs would then fail
# "before job" and put the queue in the error state).
write_global_config() {
    sed -e "s|^execd_spool_dir .*|execd_spool_dir        $DIR/spool/execd|" \
        -e 's|^mailer .*|mailer                 /bin/true|' \
        -e 's|^min_uid .*|min_uid                0|' \
        -e 's|^min_gid .*|min_gid                0|' \
        -e 's|^load_report_time .*|load_report_time       00:00:02|' \
        -e 's|^max_unheard .*|max_unheard            00:00:30|' \
        -e 's|^reporting_params .*|reporting_params       accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00|' \
        /usr/share/gridengine/default-configuration >"$DIR/conf/global"
    grep -q '^min_uid *0$' "$DIR/conf/global" || die "could not set min_uid in the global configuration"
}

# Create the classic spool and fill it with the defaults (the calls of Debian's init_cluster).
init_spool() {
    local res=/usr/share/gridengine/util/resources
    (
        cd "$DIR/conf"
        "$SGE_LIB/spoolinit" classic libspoolc "$COMMON;$DIR/spool/qmaster" init
        "$SGE_LIB/spooldefaults" configuration "$DIR/conf/global"
        "$SGE_LIB/spooldefaults" complexes "$res/centry"
        "$SGE_LIB/spooldefaults" usersets "$res/usersets"
        "$SGE_LIB/spooldefaults" managers root
    ) >"$DIR/log/spoolinit.out" 2>&1 || { cat "$DIR/log/spoolinit.out" >&2; die "spool initialisation failed"; }
}

# Give each daemon launched by this run up to 5 s to write its PID file, so that a failed
# bring-up can stop it.
wait_for_pid_files() {
    local name _
    for name in "${STARTED[@]}"; do
        for _ in $(seq 50); do
            [[ -s $DIR/pids/$name.pid ]] && break
            sleep 0.1
        done
    done
}

# Both daemons put themselves in the background; their PID files are written where we ask.
start_qmaster() {
    STARTED+=(sge_qmaster)
    (cd / && SGE_QMASTER_PIDFILE=$DIR/pids/sge_qmaster.pid setsid "$SGE_LIB/sge_qmaster") \
        </dev/null >"$DIR/log/sge_qmaster.out" 2>&1 || die_with_logs "sge_qmaster failed to start"
    local deadline=$((SECONDS + TIMEOUT))
    until timeout 10 qconf -sh >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die_with_logs "sge_qmaster does not answer on port $SGE_QMASTER_PORT after ${TIMEOUT}s"
        [[ ! -s $DIR/pids/sge_qmaster.pid ]] || running sge_qmaster || die_with_logs "sge_qmaster exited"
        sleep 0.1
    done
    running sge_qmaster || die_with_logs "sge_qmaster answers but its PID file is missing"
}

# Hosts, parallel environment, queue and scheduler, through qmaster (qconf -A*/-M* read files).
configure_cell() {
    local conf=$DIR/conf
    {
        qconf -as "$HOST" # the qmaster host is an admin host already
        cat >"$conf/exechost" <<EOF
hostname              $HOST
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
        qconf -Ae "$conf/exechost"

        # smp: all slots of a job on one host
        cat >"$conf/pe" <<EOF
pe_name               $PE
slots                 999
user_lists            NONE
xuser_lists           NONE
start_proc_args       NONE
stop_proc_args        NONE
allocation_rule       \$pe_slots
control_slaves        TRUE
job_is_first_task     TRUE
urgency_slots         min
accounting_summary    FALSE
qsort_args            NONE
EOF
        qconf -Ap "$conf/pe"

        write_queue_config "$conf/queue"
        qconf -Aq "$conf/queue"

        # Default schedule_interval is 15 s; run the scheduler every second instead, and 1 s
        # after each submission or end of a job (0 would switch those triggers off).
        qconf -ssconf >"$conf/sched"
        sed -i -e 's/^schedule_interval .*/schedule_interval                 0:0:1/' \
            -e 's/^flush_submit_sec .*/flush_submit_sec                  1/' \
            -e 's/^flush_finish_sec .*/flush_finish_sec                  1/' "$conf/sched"
        qconf -Msconf "$conf/sched"
    } >"$DIR/log/qconf.out" 2>&1 || { cat "$DIR/log/qconf.out" >&2; die_with_logs "configuring the cell with qconf failed"; }
}

write_queue_config() {
    cat >"$1" <<EOF
qname                 $QUEUE
hostlist              $HOST
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               $PE
rerun                 FALSE
slots                 $(nproc)
tmpdir                /tmp
shell                 /bin/bash
prolog                NONE
epilog                NONE
shell_start_mode      unix_behavior
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
EOF
}

start_execd() {
    STARTED+=(sge_execd)
    (cd / && SGE_EXECD_PIDFILE=$DIR/pids/sge_execd.pid setsid "$SGE_LIB/sge_execd") \
        </dev/null >"$DIR/log/sge_execd.out" 2>&1 || die_with_logs "sge_execd failed to start"
}

wait_until_ready() {
    local deadline=$((SECONDS + TIMEOUT))
    until queue_ready; do
        ((SECONDS < deadline)) ||
            die_with_logs "$QUEUE@$HOST not ready after ${TIMEOUT}s: $(qstat -f 2>&1 | tail -n 2 | tr '\n' ' ')"
        running sge_qmaster || die_with_logs "sge_qmaster exited"
        [[ ! -s $DIR/pids/sge_execd.pid ]] || running sge_execd || die_with_logs "sge_execd exited"
        sleep 0.2
    done
    running sge_execd || die_with_logs "the queue is up but sge_execd's PID file is missing"
}

print_exports() {
    printf 'export SGE_ROOT=%q\n' "$SGE_ROOT"
    printf 'export SGE_CELL=%q\n' "$SGE_CELL"
    printf 'export SGE_QMASTER_PORT=%q\n' "$SGE_QMASTER_PORT"
    printf 'export SGE_EXECD_PORT=%q\n' "$SGE_EXECD_PORT"
    printf 'export PARLAY_TEST_SGE_QUEUE=%q\n' "$QUEUE"
    printf 'export PARLAY_TEST_SGE_PE=%q\n' "$PE"
}

cmd_up() {
    local t0
    t0=$(now)
    install_packages
    if already_up; then
        log "already up in $DIR (cell $SGE_CELL)"
        print_exports
        return 0
    fi
    if compgen -G "$DIR/pids/*.pid" >/dev/null; then
        log "leftovers of an earlier start in $DIR: stopping them first"
        (cmd_down)
    fi
    check_ports "choose other ports with PARLAY_SGE_QMASTER_PORT / PARLAY_SGE_EXECD_PORT" \
        "$SGE_QMASTER_PORT" "$SGE_EXECD_PORT"
    ensure_host_resolves
    write_cell
    write_global_config
    init_spool
    start_qmaster
    configure_cell
    start_execd
    wait_until_ready
    log "up in $(since "$t0")s: cell $SGE_CELL, queue $QUEUE@$HOST ($(nproc) slots), PE $PE," \
        "ports $SGE_QMASTER_PORT/$SGE_EXECD_PORT, dir $DIR"
    print_exports
}

# ---------------------------------------------------------------- down steps

# Delete every job while qmaster still answers, and wait until they are gone, so that no
# sge_shepherd or job process outlives the daemons (sge_execd leaves running jobs alone when it
# stops). A plain qdel first, which has execd kill the jobs; qdel -f only for what is left.
delete_jobs() {
    running sge_qmaster || return 0
    local ids force _
    ids=$(list_jobs | tr '\n' ' ')
    [[ -n ${ids// /} ]] || return 0
    log "deleting jobs: $ids"
    for force in "" -f; do
        # shellcheck disable=SC2086  # a list of job ids, and an optional flag
        timeout 10 qdel $force $ids >&2 || true
        for _ in $(seq 50); do
            ids=$(list_jobs | tr '\n' ' ')
            [[ -n ${ids// /} ]] || return 0
            sleep 0.2
        done
    done
    log "warning: jobs still listed after qdel -f: $ids"
}

# Ids of all jobs of all users, one per line.
list_jobs() {
    timeout 10 qstat -u '*' 2>/dev/null | awk 'NR > 2 { print $1 }' | sort -u || true
}

# Remove $SGE_ROOT/$SGE_CELL if it is our link: the cell is of no use once its daemons are gone.
unlink_cell() {
    local link=$SGE_ROOT/$SGE_CELL
    if [[ -L $link && $(readlink "$link") == "$DIR/cell" ]]; then
        rm -f "$link"
    fi
}

cmd_down() {
    # Talk to the cell as it was started, whatever the environment says now.
    if [[ -r $COMMON/settings.sh ]]; then
        # shellcheck source=/dev/null
        . "$COMMON/settings.sh"
    fi
    if compgen -G "$DIR/pids/*.pid" >/dev/null; then
        delete_jobs
        stop_daemons 30 sge_execd sge_qmaster  # qmaster's controlled shutdown takes several seconds
    else
        log "nothing to stop in $DIR"
    fi
    unlink_cell
}

main "$@"
