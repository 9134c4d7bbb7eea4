using System.Collections;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// <c>symc train FILE --init-from PATH</c>: the initial weights of a run from a PyTorch state_dict (<c>torch.save</c>'s
/// zip format) or a safetensors file, read with TorchSharp.PyBridge. The keys are weights.dat's (docs/weights.md): the
/// state_dict keys of the model without reparametrisations, each parameter's effective value and each layer buffer.
/// The file is read and checked against the model before the run starts (every key present, none extra, each shape
/// right); the values become the run's initial effective parameters (<see cref="SymModel.SetEffectiveParameters"/>: a
/// syre/induce reparametrisation stores them as its own raw tensors) and buffers, set when the run starts (first among
/// the observers, so that the diagnostics see them as the initial state).
/// </summary>
internal sealed class InitFrom : ITrainingObserver, IDisposable
{
    readonly Dictionary<string, Tensor> _parameters; // logical name → value (CPU)
    readonly Dictionary<string, Tensor> _buffers;    // logical name → value (CPU)
    readonly object _gate = new();

    /// <summary>The file's full path (recorded in run.json).</summary>
    public string Path { get; }

    InitFrom(string path, Dictionary<string, Tensor> parameters, Dictionary<string, Tensor> buffers)
    {
        Path = path; _parameters = parameters; _buffers = buffers;
    }

    /// <summary>
    /// Reads <paramref name="path"/> and checks it against <paramref name="model"/>: an unreadable file, a missing key, an
    /// extra key or a mis-shaped or mis-typed tensor is a <see cref="SymDslException"/> naming the file, the key and
    /// the expected and given shapes (the first problem, with the count of the others).
    /// </summary>
    public static InitFrom Read(string path, ModelIR model)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new SymDslException($"--init-from {path}: is a directory, not a weights file (.pt or .safetensors)");
        if (!File.Exists(full)) throw new SymDslException($"--init-from {path}: no such file");
        var loaded = ReadStateDict(full, path);
        try
        {
            return Match(loaded, model, path, full);
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }

    /// <summary>The file's tensors by key: a zip archive is torch.save's format, anything else is read as safetensors.</summary>
    static Dictionary<string, Tensor> ReadStateDict(string full, string shown)
    {
        try
        {
            using var stream = File.OpenRead(full);
            var magic = new byte[4];
            var isZip = stream.Read(magic, 0, 4) == 4 && magic is [0x50, 0x4b, 0x03, 0x04];
            stream.Seek(0, SeekOrigin.Begin);
            if (isZip)
            {
                var table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: true);
                var result = new Dictionary<string, Tensor>();
                foreach (DictionaryEntry e in table)
                    if (e.Key is string key && e.Value is Tensor t) result[key] = t;
                    else throw new InvalidDataException($"entry {e.Key} is not a tensor; save a state_dict: torch.save(model.state_dict(), PATH)");
                return result;
            }
            if (stream.Length < 8) throw new InvalidDataException("too short for a safetensors file and not a zip archive (torch.save)");
            return Safetensors.LoadStateDict(stream, leaveOpen: true);
        }
        catch (Exception e) when (e is not SymDslException && e is not OutOfMemoryException)
        {
            throw new SymDslException($"--init-from {shown}: cannot read it as a PyTorch state_dict (torch.save) or a safetensors file: {Line(e.Message)}", e);
        }
    }

    static string Line(string message) => message.ReplaceLineEndings(" ").Trim();

    static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>The loaded tensors matched with the model's keys (the plain model's state_dict, as in weights.dat).</summary>
    static InitFrom Match(Dictionary<string, Tensor> loaded, ModelIR model, string shown, string full)
    {
        using var scope = NewDisposeScope();
        using var plain = new SymModel(model);
        var expected = new Dictionary<string, (bool IsParameter, string Logical, Tensor Like)>();
        foreach (var p in model.Parameters)
            expected[plain.RawKeys[p.Name].Single()] = (true, p.Name, plain.EffectiveParameter(p.Name));
        foreach (var (name, buffer) in plain.Buffers())
            expected[string.Join(".", name.Split('.').Select(SymDsl.Semantics.Names.Sanitize))] = (false, name, buffer);

        var problems = new List<string>();
        foreach (var (key, e) in expected)
            if (!loaded.ContainsKey(key))
                problems.Add($"missing key '{key}' ({(e.IsParameter ? "parameter" : "buffer")} {e.Logical}, shape {Shape(e.Like.shape)})");
        foreach (var (key, t) in loaded)
            if (!expected.ContainsKey(key))
                problems.Add($"unexpected key '{key}' (shape {Shape(t.shape)}): model {model.Name} has no such parameter or buffer");
        var parameters = new Dictionary<string, Tensor>();
        var buffers = new Dictionary<string, Tensor>();
        foreach (var (key, e) in expected)
        {
            if (!loaded.TryGetValue(key, out var t)) continue;
            var want = e.Like.shape;
            // torch.save writes a 0-dim tensor that PyBridge reads as [1] (a BatchNorm's num_batches_tracked).
            var fits = t.shape.SequenceEqual(want) || (want.Length == 0 && t.shape is [1]);
            if (!fits) { problems.Add($"key '{key}' has shape {Shape(t.shape)}, expected {Shape(want)}"); continue; }
            if (e.Like.is_floating_point() != t.is_floating_point())
            {
                problems.Add($"key '{key}' holds {t.dtype} values, expected {e.Like.dtype}");
                continue;
            }
            if (t.is_floating_point() && !t.isfinite().all().item<bool>()) { problems.Add($"key '{key}' holds non-finite values"); continue; }
            var value = t.reshape(want).to(e.Like.dtype).detach().clone().DetachFromDisposeScope();
            (e.IsParameter ? parameters : buffers)[e.Logical] = value;
        }
        if (problems.Count > 0)
        {
            foreach (var v in parameters.Values.Concat(buffers.Values)) v.Dispose();
            var more = problems.Count > 1 ? $" (and {problems.Count - 1} more problem{(problems.Count > 2 ? "s" : "")})" : "";
            throw new SymDslException($"--init-from {shown}: {problems[0]}{more}; the keys are those of a run's weights.dat (docs/weights.md)");
        }
        return new InitFrom(full, parameters, buffers);
    }

    /// <summary>Sets the run's initial effective parameters and buffers (the run's model is fresh: no resume).</summary>
    public void OnStart(TrainingContext context)
    {
        if (context.StartStep != 0) throw new InvalidOperationException("--init-from applies to a new run, not a resumed one");
        var model = context.Model;
        lock (_gate) // several seeds may start at once (--parallel): each reads the same tensors
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            model.SetEffectiveParameters(_parameters.ToDictionary(kv => kv.Key, kv => kv.Value.to(model.ParameterDevice).to(model.ParameterDType)));
            model.SetBuffers(_buffers.ToDictionary(kv => kv.Key, kv => kv.Value.to(model.ParameterDevice)));
        }
    }

    public void OnStep(TrainingContext context, long step, IDictionary<string, object?> metrics) { }

    public void Dispose()
    {
        foreach (var t in _parameters.Values.Concat(_buffers.Values)) t.Dispose();
    }
}
