#!/usr/bin/env bash
# A real test of `symc sweep --slurm` on a single-node Slurm cluster started here from Debian's slurm-wlm and munge.
#
#   sudo bash bench/slurm-test.sh          (needs root: it installs packages and starts munged, slurmctld, slurmd)
#
# It installs slurm-wlm and munge (apt-get) when sbatch is missing, writes a one-node slurm.conf for this host
# (2 CPUs), starts the daemons, then:
#   1. runs a 2 x 2 grid x 2 seeds sweep of a tiny model locally (`symc sweep … --jobs 2`): the reference;
#   2. submits the same grid as an array job (`symc sweep … --slurm --array-limit 2`);
#   3. interrupts two tasks mid-run once each has a checkpoint: task 0 gets SIGUSR1 as from `--signal` before the time
#      limit (the batch shell makes symc checkpoint and requeues the task itself), task 1 is requeued by
#      `scontrol requeue` (preemption: Slurm sends SIGTERM, symc checkpoints, Slurm requeues);
#   4. waits for the array to end and checks that both tasks were requeued (Restarts=1), started again with --resume
#      and resumed at a step > 0 (their symc.log), and that `symc sweep --collect` gives the local run's table
#      (sweep.csv without wall_seconds: same final metrics, runs are deterministic per seed).
# The daemons it started are stopped at the end (SLURM_TEST_KEEP=1 keeps them). Exit 0 when every check passes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${SLURM_TEST_DIR:-/tmp/symc-slurm-test}"
steps="${SLURM_TEST_STEPS:-8000}"
host="$(hostname -s)"
say() { echo "slurm-test: $*"; }
fail() { echo "slurm-test: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs slurm-wlm and munge and starts their daemons)"

# --- install ---------------------------------------------------------------------------------------------------------
if ! command -v sbatch >/dev/null || [ ! -x /usr/sbin/munged ]; then
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; }
fi
say "slurm-wlm $(dpkg-query -W -f '${Version}' slurm-wlm), munge $(dpkg-query -W -f '${Version}' munge)"

# --- start munge and slurm -------------------------------------------------------------------------------------------
started=()
cleanup() {
  if [ "${SLURM_TEST_KEEP:-0}" != 1 ]; then
    for pidfile in "${started[@]}"; do
      [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
  fi
}
trap cleanup EXIT

mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
[ -s /etc/munge/munge.key ] || /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
if ! munge -n >/dev/null 2>&1; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  started+=(/run/munge/munged.pid)
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.2; done
fi
munge -n | unmunge >/dev/null || fail "munge does not work"

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
[ -s /etc/slurm/cgroup.conf ] || rm -f /etc/slurm/cgroup.conf   # an empty one draws a warning; none is needed here
if ! scontrol ping 2>/dev/null | grep -q 'is UP'; then
  cat > /etc/slurm/slurm.conf <<EOF
# Written by bench/slurm-test.sh: a single-node cluster on $host.
ClusterName=symctest
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=cred_expire=30
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
KillWait=30
SlurmdTimeout=60
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  say "starting slurmctld and slurmd"
  /usr/sbin/slurmctld -c   # -c: no jobs from an earlier run of this script
  started+=(/run/slurmctld.pid)
  /usr/sbin/slurmd
  started+=(/run/slurmd.pid)
fi
for _ in $(seq 60); do sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break; sleep 1; done
sinfo -h -o '%t' | grep -qE '^(idle|mix|alloc)' || { sinfo; tail -20 /var/log/slurm/slurmd.log; fail "the node did not come up"; }
say "cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %t')"

# --- the sweep ---------------------------------------------------------------------------------------------------------
rm -rf "$work"; mkdir -p "$work"
cat > "$work/tiny.sym" <<'EOF'
model Tiny(width: int = 8, width2: int = 8) {
    input x: [64]
    layer fc1 = Linear(64, width)
    layer fc2 = Linear(width, width2)
    layer fc3 = Linear(width2, 10)
    h = relu(fc1(x))
    g = relu(fc2(h))
    output logits = fc3(g)
}

train Tiny {
    data      digits(test_fraction = 0.2)
    loss      cross_entropy(logits, label)
    optimizer sgd(lr = 0.05, momentum = 0.9)
    batch     32
    steps     100
    seed      1
}
EOF
grid=(--set width=8,16 --set width2=4,8 --seeds 1,2 --steps "$steps" --checkpoint-every 200)
symc() { "$root/symc" "$@"; }
symc check "$work/tiny.sym" >/dev/null 2>&1 || true   # builds .build/symc on first use

say "local reference: symc sweep … --jobs 2"
t0=$(date +%s)
if ! symc sweep "$work/tiny.sym" "${grid[@]}" --jobs 2 --out "$work/local" > "$work/local.out" 2> "$work/local.err"; then
  grep -E 'failed|error' "$work/local.err" >&2
  say "the local sweep had failed cells; running it again (a re-run retries them)"
  symc sweep "$work/tiny.sym" "${grid[@]}" --jobs 2 --out "$work/local" > "$work/local.out" 2> "$work/local.err" \
    || { cat "$work/local.err"; fail "the local sweep failed twice"; }
fi
say "local sweep: $(( $(date +%s) - t0 )) s"

say "symc sweep … --slurm --array-limit 2"
symc sweep "$work/tiny.sym" "${grid[@]}" --slurm --array-limit 2 --time 10 --out "$work/slurm" > "$work/submit.out" 2> "$work/submit.err" \
  || { cat "$work/submit.err"; fail "submitting failed"; }
grep -v "warning SYM" "$work/submit.err" || true
job=$(grep -oE 'Submitted batch job [0-9]+' "$work/submit.out" | grep -oE '[0-9]+$') || fail "no job id in: $(cat "$work/submit.out")"
say "array job $job submitted; $(grep -E '^#SBATCH' "$work/slurm/sweep.sbatch" | tr '\n' ' ')"
t0=$(date +%s)

cell_of() { sed -n "s/^  $1) cell=\\([^;]*\\);.*/\\1/p" "$work/slurm/sweep.sbatch" | tr -d "'"; }
d0="$work/slurm/$(cell_of 0)"
d1="$work/slurm/$(cell_of 1)"
# True when task $1 (cell directory $2) runs and its cell has a checkpoint but no summary yet.
mid_run() { [ -f "$2/checkpoint.bin" ] && [ ! -f "$2/summary.json" ] && squeue -h -j "${job}_$1" -t R 2>/dev/null | grep -q .; }
# Tasks 0 and 1 start together (--array-limit 2): interrupt both once both have a checkpoint.
for _ in $(seq 1200); do
  mid_run 0 "$d0" && mid_run 1 "$d1" && break
  sleep 0.1
done
mid_run 0 "$d0" && mid_run 1 "$d1" || { squeue -j "$job"; fail "tasks 0 and 1 never ran with a checkpoint at the same time"; }
step() { tail -n 1 "$1/metrics.jsonl" | grep -oE '"step":[0-9]+' | grep -oE '[0-9]+'; }
say "task 1 running, its cell checkpointed (last logged step $(step "$d1")): scontrol requeue, as a preemption does"
scontrol requeue "${job}_1"
say "task 0 running, its cell checkpointed (last logged step $(step "$d0")): SIGUSR1 to its batch shell, as --signal does before the time limit"
# scancel delivers the signal at once but then keeps retrying while the task requeues itself ("Job can not be altered
# now"): it runs in the background; the checks below tell whether the signal did its work.
timeout 60 scancel --batch --signal=USR1 "${job}_0" >/dev/null 2>&1 &

for _ in $(seq 900); do
  squeue -h -j "$job" 2>/dev/null | grep -q . || break
  sleep 1
done
squeue -h -j "$job" | grep -q . && { squeue -j "$job"; fail "the array job did not end within 15 minutes"; }
say "array job ended after $(( $(date +%s) - t0 )) s"

# --- checks ------------------------------------------------------------------------------------------------------------
for task in 0 1; do
  dir="$work/slurm/$(cell_of "$task")"
  log="$work/slurm/logs/${job}_${task}.log"
  restarts=$(scontrol show job "${job}_${task}" 2>/dev/null | grep -oE 'Restarts=[0-9]+' | head -n 1)
  say "task $task: $restarts; its log:"; sed 's/^/    | /' "$log" | grep -E 'symc sweep|step [0-9]+/' | grep -vE 'step [0-9]+/[0-9]+ epoch' || true
  [ "$restarts" = "Restarts=1" ] || fail "task $task was not requeued once ($restarts)"
  grep -q 'resuming .* from its checkpoint' "$log" || fail "task $task did not resume from its checkpoint"
  grep -E '^# symc sweep .*--resume' "$dir/symc.log" >/dev/null || fail "task $task's second start had no --resume"
  [ -f "$dir/summary.json" ] || fail "task $task did not finish"
  this=$(grep -oE '"steps_this_process": *[0-9]+' "$dir/summary.json" | grep -oE '[0-9]+$' || true)
  if [ -n "$this" ]; then
    [ "$this" -lt "$steps" ] || fail "task $task trained all $steps steps after its requeue ($this): it did not resume"
    say "task $task: resumed at step $((steps - this)), trained the other $this of $steps steps after the requeue"
  fi
done
grep -q 'time limit near: checkpointing, then requeueing' "$work/slurm/logs/${job}_0.log" || fail "task 0 did not handle SIGUSR1"

symc sweep --collect "$work/slurm" > "$work/collect.out" 2> "$work/collect.err" || { cat "$work/collect.err"; fail "collect failed"; }
grep -v "warning SYM" "$work/collect.err" || true
# sweep.csv's last two columns are wall_seconds and error (empty for a finished cell): drop wall_seconds.
strip() { sed -E 's/,[^,]*,([^,]*)$/,\1/' "$1"; }
strip "$work/local/sweep.csv" > "$work/local.csv"
strip "$work/slurm/sweep.csv" > "$work/slurm.csv"
say "collected table (sweep.csv without wall_seconds):"; sed 's/^/    /' "$work/slurm.csv"
grep -c ',done,' "$work/slurm.csv" | grep -qx 8 || fail "not all 8 cells are done"
diff "$work/local.csv" "$work/slurm.csv" || fail "the Slurm sweep's table differs from the local run's"
say "PASS: 8 cells on Slurm, 2 tasks requeued and resumed from their checkpoints, table identical to the local run's"
