using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.Text;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using TorchSharp;
using TorchSharp.Modules;

namespace SymDsl.Torch.Training;

/// <summary>
/// What a run was made from besides the model and the seed, as text (arguments in ordinal key order), compared on
/// <c>--resume</c>: a difference in any of these but <see cref="Diagnostics"/>, <see cref="LogEvery"/> and the data
/// source's text (when the loaded data are the same) makes resuming unsound.
/// </summary>
public sealed record RunSpec(
    string Optimizer,
    string Schedule,
    int Batch,
    string Loss,
    string Regularisers,
    string Data,
    string DataFingerprint,
    int LogEvery,
    string Diagnostics)
{
    /// <summary>The spec of <paramref name="train"/> trained on <paramref name="data"/> (loaded and validated).</summary>
    public static RunSpec Of(TrainIR train, DataSet data) => new(
        Describe(train.Optimizer.Kind, train.Optimizer.Args),
        train.Schedule is { } s ? Describe(s.Kind, s.Args) : "constant",
        train.Batch,
        $"{train.Loss.Kind}({train.Loss.Output}, {train.Loss.Target})",
        string.Join("; ", train.Breaks.Select(b => $"{Describe(b.Method, b.Args)} on {string.Join(", ", b.Symmetries)}")
            .Concat(train.Induces.Select(i => $"induce {Describe(i.Structure, i.Args)} on {i.Parameter}"))
            .Concat(train.Teleports.Select(x => $"teleport {string.Join(", ", x.Groups)} every {x.Every}"))) is { Length: > 0 } r ? r : "none",
        Describe(train.Data.Kind, train.Data.Args),
        Checkpoint.Fingerprint(data),
        train.LogEvery,
        string.Join(", ", train.Diagnostics.Select(d => $"{d.Key}{(d.Args.Count > 0 ? " " + Describe("with", d.Args) : "")} every {d.Every}")) is { Length: > 0 } d ? d : "none");

    static string Describe(string kind, IReadOnlyDictionary<string, Value> args) =>
        $"{kind}({string.Join(", ", args.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} = {kv.Value}"))})";
}

/// <summary>
/// What a checkpoint records besides tensors: the model, the seed, the step reached, the run's length, the wall time so
/// far, and how many metrics.jsonl lines the run had written up to its step with the SHA-256 of exactly those lines
/// (<see cref="MetricsLog"/>; the lines themselves stay in metrics.jsonl, so a checkpoint's size does not grow with the
/// run's length). <see cref="Parameters"/> (the model's state_dict entries with dtype and shape) is
/// filled in by <see cref="Checkpoint.Save"/>; <see cref="Run"/> is what the run was made from (null for checkpoints not
/// written by the trainer, e.g. in tests).
/// </summary>
public sealed record CheckpointMeta(string Model, long Seed, long Step, long TotalSteps, double WallSeconds, long MetricsLineCount, string MetricsSha256)
{
    public int Format { get; init; }
    public List<string> Parameters { get; init; } = [];
    public RunSpec? Run { get; init; }
}

/// <summary>
/// One checkpoint file (DIR/checkpoint.bin), format 3:
/// <list type="bullet">
/// <item>header: the tag <c>SYMDSL-CHECKPOINT-3</c> (a length-prefixed string, as formats 1 and 2),
///   the payload's length (int64) and its SHA-256 (32 bytes);</item>
/// <item>payload: the JSON <see cref="CheckpointMeta"/>, the model's state_dict (raw parameters AND buffers, e.g. syre's
///   θ₀) in TorchSharp's format, a flag and the optimizer's state (TorchSharp's save_state_dict).</item>
/// </list>
/// The length and checksum are verified before anything is read or loaded. No RNG state is stored: initialisation and
/// the shuffle are functions of the seed (the order of epoch e is drawn from (seed, e); the position is the step).
/// Written atomically: a temporary file in the same directory, flushed to disk, then renamed over the old one.
/// </summary>
public static class Checkpoint
{
    public const string FileName = "checkpoint.bin";
    public const int Version = 3;
    const string TagPrefix = "SYMDSL-CHECKPOINT-";
    const int HeaderLength = 20 + 8 + 32; // tag (1 length byte + 19 chars), payload length, SHA-256

    /// <summary>
    /// Writes the checkpoint atomically (<see cref="AtomicFile"/>: an interrupted write leaves ".checkpoint.bin.PID.tmp",
    /// which the run lock removes).
    /// </summary>
    public static void Save(string path, SymModel model, OptimizerHelper? optimizer, CheckpointMeta meta)
    {
        meta = meta with { Format = Version, Parameters = ParameterList(model) };
        try
        {
            AtomicFile.Write(path, fs =>
            {
                using (var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true))
                {
                    w.Write(TagPrefix + Version.ToString(CultureInfo.InvariantCulture));
                    w.Write(0L);
                    w.Write(new byte[32]);
                    w.Write(JsonSerializer.Serialize(meta));
                    model.save(w);
                    w.Write(optimizer is not null);
                    optimizer?.save_state_dict(w);
                }
                TestHook.PauseIfAsked(meta.Step, "during");
                var length = fs.Length - HeaderLength;
                fs.Position = HeaderLength;
                var hash = SHA256.HashData(fs);
                fs.Position = HeaderLength - 40;
                fs.Write(BitConverter.GetBytes(length));
                fs.Write(hash);
            });
            TestHook.PauseIfAsked(meta.Step, "after");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SymDslException($"cannot write checkpoint {path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Reads and verifies <paramref name="path"/> (format, length, checksum) and returns its metadata; no tensor is read.
    /// Every defect is a <see cref="SymDslException"/> naming the file.
    /// </summary>
    public static CheckpointMeta Read(string path) => Open(path).Meta;

    /// <summary>Restores the model (and optimizer when given) from <paramref name="path"/> and returns its metadata.</summary>
    public static CheckpointMeta Load(string path, SymModel model, OptimizerHelper? optimizer)
    {
        var file = Open(path);
        if (MismatchedModel(file.Meta, model) is { } why) throw new SymDslException($"{path} {why}");
        file.Restore(model, optimizer);
        return file.Meta;
    }

    /// <summary>
    /// Checks that <paramref name="saved"/> (read from <paramref name="path"/>) can be resumed by a run of
    /// <paramref name="model"/> with <paramref name="seed"/>, <paramref name="spec"/> and <paramref name="totalSteps"/>
    /// (whose learning rates <paramref name="lrAt"/> gives for a given total length and step). Throws one line naming
    /// every difference that makes resuming unsound; returns the differences where resuming is still sound, as warnings.
    /// </summary>
    public static IReadOnlyList<string> CheckResume(string path, CheckpointMeta saved, SymModel model, long seed, RunSpec spec, long totalSteps,
        Func<long, long, double> lrAt)
    {
        var errors = new List<string>();
        var warnings = new List<string>();
        if (MismatchedModel(saved, model) is { } why) errors.Add(why);
        if (saved.Seed != seed) errors.Add($"it was written with seed {saved.Seed}, this run has seed {seed}");
        if (saved.Run is not { } was)
            errors.Add("it records no run settings (it was not written by a training run)");
        else
        {
            void Same<T>(string what, T then, T now)
            {
                if (!EqualityComparer<T>.Default.Equals(then, now)) errors.Add($"the {what} differs: {then} in the checkpoint, {now} now");
            }
            Same("optimizer", was.Optimizer, spec.Optimizer);
            Same("schedule", was.Schedule, spec.Schedule);
            Same("batch size", was.Batch, spec.Batch);
            Same("loss", was.Loss, spec.Loss);
            Same("regularisation (break/induce)", was.Regularisers, spec.Regularisers);
            if (was.DataFingerprint != spec.DataFingerprint && saved.Seed == seed) // the split (and generated data) follow the seed
                errors.Add(was.Data == spec.Data
                    ? $"the data of {spec.Data} changed since the checkpoint was written"
                    : $"the data differ: {was.Data} in the checkpoint, {spec.Data} now (and they load different values)");
            else if (was.Data != spec.Data)
                warnings.Add($"the data source reads {spec.Data} now, {was.Data} in the checkpoint; the data loaded are the same, so training goes on");
            if (was.Diagnostics != spec.Diagnostics)
                warnings.Add($"the diagnostics differ ({was.Diagnostics} in the checkpoint, {spec.Diagnostics} now); metrics.jsonl follows the new ones from step {saved.Step}");
            if (was.LogEvery != spec.LogEvery)
                warnings.Add($"metrics are logged every {spec.LogEvery} steps from step {saved.Step} (every {was.LogEvery} before)");
        }
        if (totalSteps < saved.Step)
            errors.Add($"it is at step {saved.Step} but this run is only {totalSteps} steps long; ask for at least {saved.Step} steps (--steps/--epochs) or train anew without --resume");
        if (errors.Count > 0) throw new SymDslException($"cannot resume from {path}: {string.Join("; ", errors)}");

        if (totalSteps != saved.TotalSteps)
        {
            var lrsDiffer = false;
            for (long s = 0; s < saved.Step && !lrsDiffer; s++) lrsDiffer = lrAt(saved.TotalSteps, s) != lrAt(totalSteps, s);
            warnings.Add($"the checkpoint's run was {saved.TotalSteps} steps long, this one is {totalSteps}; continuing from step {saved.Step}"
                + (lrsDiffer ? $" (the schedule now spans {totalSteps} steps, so the steps already done had other learning rates than a run of {totalSteps} steps)" : ""));
        }
        if (totalSteps == saved.Step) warnings.Add($"the checkpoint is already at step {saved.Step}, the end of the run; nothing is left to train");
        return warnings;
    }

    /// <summary>The checkpoint's model is another one, or has other parameters (names, dtypes, shapes: another width, another break/induce).</summary>
    static string? MismatchedModel(CheckpointMeta saved, SymModel model)
    {
        if (saved.Model != model.IR.Name) return $"holds a checkpoint of model {saved.Model}, not {model.IR.Name}";
        var now = ParameterList(model);
        if (saved.Parameters.SequenceEqual(now)) return null;
        var then = saved.Parameters.ToDictionary(Key);
        var nowByKey = now.ToDictionary(Key);
        static string Key(string entry) => entry[..entry.IndexOf(' ')];
        var changed = then.Keys.Intersect(nowByKey.Keys).FirstOrDefault(k => then[k] != nowByKey[k]);
        var detail = changed is not null ? $"{then[changed]} in the checkpoint, {nowByKey[changed][(changed.Length + 1)..]} now"
            : then.Keys.Except(nowByKey.Keys).FirstOrDefault() is { } gone ? $"{gone} is in the checkpoint, not in this model"
            : nowByKey.Keys.Except(then.Keys).FirstOrDefault() is { } added ? $"{added} is in this model, not in the checkpoint"
            : "their order differs";
        return $"holds other parameters of model {model.IR.Name} ({detail}): another width, --set value or break/induce?";
    }

    /// <summary>The model's state_dict entries as "name dtype[shape]" (raw parameters and buffers, in order).</summary>
    public static List<string> ParameterList(SymModel model) =>
        model.state_dict().Select(kv => $"{kv.Key} {kv.Value.dtype}[{string.Join(", ", kv.Value.shape)}]").ToList();

    /// <summary>SHA-256 (hex) over both splits of <paramref name="data"/>: field names, dtypes, shapes and values.</summary>
    public static string Fingerprint(DataSet data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var scope = torch.NewDisposeScope();
        foreach (var (split, fields) in new[] { ("train", data.Train), ("test", data.Test) })
            foreach (var (name, t) in fields.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                hash.AppendData(Encoding.UTF8.GetBytes($"{split}/{name} {t.dtype}[{string.Join(", ", t.shape)}];"));
                hash.AppendData(t.cpu().contiguous().bytes);
            }
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    /// <summary>A verified checkpoint file: its metadata, and where its tensors start.</summary>
    public sealed class VerifiedFile
    {
        readonly string _path;
        readonly long _stateOffset;
        public CheckpointMeta Meta { get; }

        internal VerifiedFile(string path, CheckpointMeta meta, long stateOffset) { _path = path; Meta = meta; _stateOffset = stateOffset; }

        /// <summary>Loads the model's state_dict (strict) and, when <paramref name="optimizer"/> is given, the optimizer's state.</summary>
        public void Restore(SymModel model, OptimizerHelper? optimizer)
        {
            try
            {
                using var fs = System.IO.File.OpenRead(_path);
                fs.Position = _stateOffset;
                using var r = new BinaryReader(fs);
                model.load(r, strict: true);
                if (r.ReadBoolean() && optimizer is not null) optimizer.load_state_dict(r);
            }
            catch (Exception e) when (e is not SymDslException)
            {
                // The checksum matched and the settings were compared: only a defect in symc gets here.
                throw new SymDslException($"cannot load the state in {_path}: {e.GetType().Name}: {FirstLine(e.Message)}", e);
            }
        }
    }

    /// <summary>Opens <paramref name="path"/>, checks its format, length and checksum, and reads its metadata.</summary>
    public static VerifiedFile Open(string path)
    {
        if (!System.IO.File.Exists(path)) throw new SymDslException($"nothing to resume: {path} does not exist");
        try
        {
            using var fs = System.IO.File.OpenRead(path);
            var header = new byte[HeaderLength];
            var got = fs.ReadAtLeast(header, HeaderLength, throwOnEndOfStream: false);
            var tag = Encoding.ASCII.GetBytes(TagPrefix);
            if (got < 20 || header[0] != TagPrefix.Length + 1 || !header.AsSpan(1, TagPrefix.Length).SequenceEqual(tag))
                throw new SymDslException(got == 0 ? $"{path} is empty: not a SymDsl checkpoint" : $"{path} is not a SymDsl checkpoint");
            var version = header[19] - '0';
            if (version is 1 or 2)
                throw new SymDslException($"{path} is a checkpoint in format {version}, written by an older symc; this symc reads format {Version} only (it has a checksum, records the run's settings and checks metrics.jsonl by a hash): train anew without --resume");
            if (version != Version)
                throw new SymDslException($"{path} is a checkpoint in format {(version is > 0 and <= 9 ? version.ToString(CultureInfo.InvariantCulture) : "?")}, which this symc does not read (format {Version})");
            if (got < HeaderLength) throw new SymDslException($"{path} is truncated ({fs.Length} bytes, shorter than its header)");
            var length = BitConverter.ToInt64(header, 20);
            if (length < 0 || fs.Length != HeaderLength + length)
                throw new SymDslException(fs.Length < HeaderLength + length
                    ? $"{path} is truncated ({fs.Length} of {HeaderLength + length} bytes)"
                    : $"{path} is damaged (its length {fs.Length} bytes does not match its header's {HeaderLength + length})");
            if (!SHA256.HashData(fs).AsSpan().SequenceEqual(header.AsSpan(28, 32)))
                throw new SymDslException($"{path} is damaged: its SHA-256 checksum does not match its contents");
            fs.Position = HeaderLength;
            using var r = new BinaryReader(fs, Encoding.UTF8, leaveOpen: true);
            var meta = JsonSerializer.Deserialize<CheckpointMeta>(r.ReadString()) ?? throw new SymDslException($"{path}: empty checkpoint metadata");
            return new VerifiedFile(path, meta, fs.Position);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new SymDslException($"cannot read checkpoint {path}: {FirstLine(e.Message)}", e);
        }
    }

    static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>
    /// For the crash-safety tests only: with SYMDSL_TEST_CHECKPOINT_PAUSE=STEP:during (or STEP:after), the write of the
    /// checkpoint of step STEP stops with its temporary file written but unfinished (no checksum yet), or right after the rename, says so on standard
    /// error and waits to be killed.
    /// </summary>
    static class TestHook
    {
        static readonly (long Step, string Where)? Pause = Parse(Environment.GetEnvironmentVariable("SYMDSL_TEST_CHECKPOINT_PAUSE"));

        static (long, string)? Parse(string? text) =>
            text?.Split(':') is [var s, var w] && long.TryParse(s, CultureInfo.InvariantCulture, out var step) ? (step, w) : null;

        public static void PauseIfAsked(long step, string where)
        {
            if (Pause is not { } p || p.Step != step || p.Where != where) return;
            Console.Error.WriteLine($"symdsl-test: paused {where} the checkpoint write of step {step}");
            Console.Error.Flush();
            Thread.Sleep(Timeout.Infinite);
        }
    }
}
