using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SymDsl.Cli.Sweeps;

/// <summary>What <c>--slurm</c> adds to a sweep: where and how long each array task may run.</summary>
public sealed record SlurmOptions(string? Partition, string? Time, int? ArrayLimit, bool DryRun);

/// <summary>
/// DIR/sweep.sbatch: a Slurm array job with one task per cell. Each task runs its cell with <c>symc train</c> (the same
/// symc as the one that wrote the script), resuming from the cell's checkpoint when there is one. Ahead of the time limit
/// Slurm sends the batch shell SIGUSR1 (<c>--signal=B:USR1@90</c>): the shell forwards one SIGTERM to symc, which writes
/// a checkpoint and exits, then requeues the task (<c>scontrol requeue</c>); the requeued task resumes. On preemption or
/// <c>scontrol requeue</c> Slurm sends SIGTERM to the whole task itself: symc checkpoints, the shell waits for it, and
/// Slurm requeues the task (<c>--requeue</c>). Logs: DIR/logs/JOB_TASK.log, appended across restarts.
/// </summary>
public static partial class SlurmScript
{
    public const string FileName = "sweep.sbatch";
    public const string LogsDir = "logs";
    /// <summary>Seconds before the time limit at which the batch shell gets SIGUSR1.</summary>
    public const int SignalSecondsBefore = 90;

    /// <summary>Slurm's --time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (or UNLIMITED).</summary>
    [GeneratedRegex(@"^(\d+|\d+:\d+|\d+:\d+:\d+|\d+-\d+|\d+-\d+:\d+|\d+-\d+:\d+:\d+|UNLIMITED|unlimited|INFINITE|infinite)$")]
    public static partial Regex TimeFormat();

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+(,[A-Za-z0-9_.\-]+)*$")]
    public static partial Regex PartitionFormat();

    /// <summary>A word for bash, single-quoted unless it needs no quoting.</summary>
    public static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '=' or ',' or '+' or ':' or '@')
            ? s
            : "'" + s.Replace("'", "'\\''") + "'";

    public static string Text(SweepSpec spec, string sweepDir, SlurmOptions options)
    {
        var cells = spec.Cells();
        var full = Path.GetFullPath(sweepDir);
        var (host, prefix) = LocalRunner.SymcCommand();
        // On the cluster the dotnet host runs the tool directly (no setsid: Slurm's signals are what the task handles).
        var symc = host.EndsWith("setsid", StringComparison.Ordinal) ? prefix : new[] { host }.Concat(prefix).ToList();
        var sb = new StringBuilder();
        sb.Append("#!/bin/bash\n");
        sb.Append($"# Written by symc sweep --slurm: one array task per cell of the sweep in {full} (cells listed in {SweepSpec.FileName}).\n");
        sb.Append("# Submit with: sbatch ").Append(Quote(Path.Combine(full, FileName))).Append("   Collect with: symc sweep --collect ").Append(Quote(full)).Append('\n');
        sb.Append("#SBATCH --job-name=").Append(Quote("symc-sweep-" + SweepSpec.PathSafe(Path.GetFileNameWithoutExtension(spec.Source)))).Append('\n');
        sb.Append("#SBATCH --array=0-").Append((cells.Count - 1).ToString(CultureInfo.InvariantCulture));
        if (options.ArrayLimit is { } k) sb.Append('%').Append(k.ToString(CultureInfo.InvariantCulture));
        sb.Append('\n');
        sb.Append("#SBATCH --output=").Append(Path.Combine(full, LogsDir, "%A_%a.log")).Append('\n');
        sb.Append("#SBATCH --open-mode=append\n");
        sb.Append("#SBATCH --requeue\n");
        sb.Append($"#SBATCH --signal=B:USR1@{SignalSecondsBefore}\n");
        sb.Append("#SBATCH --ntasks=1\n");
        sb.Append("#SBATCH --cpus-per-task=").Append(spec.Threads.ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (options.Time is { } t) sb.Append("#SBATCH --time=").Append(t).Append('\n');
        if (options.Partition is { } p) sb.Append("#SBATCH --partition=").Append(p).Append('\n');
        sb.Append("set -u\n");
        sb.Append("symc=(").Append(string.Join(' ', symc.Select(Quote))).Append(")\n");
        sb.Append("sweep_dir=").Append(Quote(full)).Append('\n');
        sb.Append("case \"${SLURM_ARRAY_TASK_ID:?submit this script with sbatch}\" in\n");
        foreach (var cell in cells)
        {
            var args = spec.TrainArguments(cell, Path.Combine(full, cell.Name));
            sb.Append("  ").Append(cell.Index.ToString(CultureInfo.InvariantCulture)).Append(") cell=").Append(Quote(cell.Name))
              .Append("; args=(").Append(string.Join(' ', args.Select(Quote))).Append(") ;;\n");
        }
        sb.Append("  *) echo \"symc sweep: no cell $SLURM_ARRAY_TASK_ID in this sweep\" >&2; exit 2 ;;\n");
        sb.Append("esac\n");
        sb.Append("""
dir="$sweep_dir/$cell"
echo "symc sweep: task ${SLURM_ARRAY_JOB_ID:-?}_$SLURM_ARRAY_TASK_ID (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname): cell $cell"
if [ -f "$dir/summary.json" ]; then echo "symc sweep: $cell is done already"; exit 0; fi
mkdir -p "$dir"
rm -f "$dir/error.txt"
if [ -f "$dir/checkpoint.bin" ]; then args+=(--resume); echo "symc sweep: resuming $cell from its checkpoint"; fi
echo "# symc sweep $(date -u +%Y-%m-%dT%H:%M:%SZ): slurm task ${SLURM_ARRAY_JOB_ID:-?}_$SLURM_ARRAY_TASK_ID: ${symc[*]} ${args[*]}" >> "$dir/symc.log"
requeue=0
pid=
# SIGUSR1 comes --signal seconds before the time limit, to this shell only: one SIGTERM makes symc checkpoint and
# exit; then the task requeues itself and its next start resumes. SIGTERM (scancel, preemption, scontrol requeue)
# reaches symc from Slurm itself: the shell only waits for the checkpoint (a second SIGTERM would end symc at once).
trap 'requeue=1; echo "symc sweep: time limit near: checkpointing, then requeueing"; [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null' USR1
trap 'echo "symc sweep: stopped by Slurm: waiting for the checkpoint"' TERM
"${symc[@]}" "${args[@]}" > >(tee -a "$dir/symc.log") 2>&1 &
pid=$!
while :; do
  wait "$pid"; rc=$?
  # A trapped signal ends wait early (status > 128) while symc still runs: wait again.
  if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi
  break
done
echo "symc sweep: symc exited with $rc"
if [ "$requeue" = 1 ] && [ ! -f "$dir/summary.json" ]; then
  echo "symc sweep: requeueing ${SLURM_JOB_ID:-?}"
  scontrol requeue "${SLURM_JOB_ID:?}"
  exit 0
fi
if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ]; then
  line=$(grep -E '^symc: (internal )?error:' "$dir/symc.log" | tail -n 1)
  echo "exit $rc: ${line:-$(tail -n 1 "$dir/symc.log")}" > "$dir/error.txt"
fi
exit "$rc"

""");
        return sb.ToString();
    }
}
