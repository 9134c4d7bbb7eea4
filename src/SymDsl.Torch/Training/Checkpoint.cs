using System.Text.Json;
using SymDsl.Diagnostics;
using SymDsl.Torch.Lowering;
using TorchSharp;
using TorchSharp.Modules;

namespace SymDsl.Torch.Training;

/// <summary>What a checkpoint records besides tensors.</summary>
public sealed record CheckpointMeta(string Model, long Seed, long Step, long TotalSteps, double WallSeconds, List<string> MetricsLines);

/// <summary>
/// One checkpoint file (DIR/checkpoint.bin): a tag, the JSON <see cref="CheckpointMeta"/> (step, metrics so far,
/// elapsed time), the model's state_dict (raw parameters AND buffers, e.g. syre's θ₀) in TorchSharp's format, the
/// optimizer's state (momentum / Adam moments, via TorchSharp's save_state_dict). No random-generator state is saved
/// (and nothing process-global is read or restored): initialisation and θ₀ are functions of the seed (restored from the
/// tensors anyway), and the shuffle order of epoch e is a function of (seed, e), the position in it is the step.
/// Written atomically: a temporary file in the same directory, then a rename over the old one.
/// </summary>
public static class Checkpoint
{
    public const string FileName = "checkpoint.bin";
    const string Tag = "SYMDSL-CHECKPOINT-1";

    public static void Save(string path, SymModel model, OptimizerHelper? optimizer, CheckpointMeta meta)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var fs = File.Create(tmp))
            using (var w = new BinaryWriter(fs))
            {
                w.Write(Tag);
                w.Write(JsonSerializer.Serialize(meta));
                model.save(w);
                w.Write(optimizer is not null);
                optimizer?.save_state_dict(w);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(tmp); } catch { /* best effort */ }
            throw new SymDslException($"cannot write checkpoint {path}: {e.Message}", e);
        }
    }

    /// <summary>Restores the model (and optimizer when given) from <paramref name="path"/> and returns its metadata.</summary>
    public static CheckpointMeta Load(string path, SymModel model, OptimizerHelper? optimizer)
    {
        if (!File.Exists(path)) throw new SymDslException($"nothing to resume: {path} does not exist");
        try
        {
            using var fs = File.OpenRead(path);
            using var r = new BinaryReader(fs);
            if (r.ReadString() != Tag) throw new SymDslException($"{path} is not a SymDsl checkpoint");
            var meta = JsonSerializer.Deserialize<CheckpointMeta>(r.ReadString()) ?? throw new SymDslException($"{path}: empty checkpoint metadata");
            if (meta.Model != model.IR.Name)
                throw new SymDslException($"{path} holds a checkpoint of model {meta.Model}, not {model.IR.Name}");
            model.load(r, strict: true);
            var hasOpt = r.ReadBoolean();
            if (hasOpt && optimizer is not null) optimizer.load_state_dict(r);
            return meta;
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or ArgumentException or InvalidOperationException or JsonException)
        {
            throw new SymDslException($"cannot resume from {path}: {e.Message} (the checkpoint does not match this model or is damaged)", e);
        }
    }
}
