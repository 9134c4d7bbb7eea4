using System.Text.Json;
using System.Text.Json.Nodes;
using SymDsl.Emit;
using SymDsl.IR;
using SymDsl.Semantics;
using SymDsl.Text;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SymDsl.Cli.Commands;

/// <summary>
/// The PyTorch twin of a trained model (<c>symc export RUN --to pytorch --out DIR</c>):
/// <list type="bullet">
/// <item><c>DIR/&lt;Model&gt;.py</c>: the model as PyTorch modules (<see cref="PythonEmitter"/>);</item>
/// <item><c>DIR/weights.pt</c>: its state_dict (effective parameters in float32 and a BatchNorm's buffers) pickled as
/// <c>torch.save</c> does (TorchSharp.PyBridge), under weights.dat's keys, which are the twin's;</item>
/// <item><c>DIR/symmetries.json</c>: every symmetry of the run's train block with its parameter (and buffer) actions, and the
/// permutation symmetries in git re-basin's <c>permutation_spec</c> form (<c>perm_to_axes</c>, <c>axes_to_perm</c>).</item>
/// </list>
/// </summary>
internal static class PyTorchExport
{
    public const string WeightsFile = "weights.pt";
    public const string SymmetriesFile = "symmetries.json";

    /// <summary>The state_dict key of IR parameter or buffer <paramref name="name"/>: each dotted part sanitised (as SymModel registers it).</summary>
    public static string Key(string name) => string.Join(".", name.Split('.').Select(Names.Sanitize));

    /// <summary>Writes the three files into <paramref name="outDir"/> (created when missing); returns their paths.</summary>
    public static IReadOnlyList<string> Write(ModelIR model, IReadOnlyList<SymmetryIR> symmetries, SymModel trained, string outDir, string? source = null)
    {
        try
        {
            Directory.CreateDirectory(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Reports.CannotWrite(outDir, e);
        }
        var python = Path.Combine(outDir, PythonEmitter.FileName(model));
        Reports.WriteAtomically(python, PythonEmitter.Emit(model, source));

        var weights = Path.Combine(outDir, WeightsFile);
        using (var scope = NewDisposeScope())
        using (var plain = new SymModel(model))
        {
            using (no_grad())
            {
                plain.SetEffectiveParameters(trained.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32)));
                plain.SetBuffers(trained.Buffers());
            }
            var state = plain.state_dict();
            try
            {
                AtomicFile.Write(weights, fs => PyTorchPickler.PickleStateDict(fs, state, leaveOpen: true));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Reports.CannotWrite(weights, e);
            }
        }

        var json = Path.Combine(outDir, SymmetriesFile);
        Reports.WriteAtomically(json, SymmetriesJson(model, symmetries, trained).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return [python, weights, json];
    }

    /// <summary>symmetries.json (docs/cli.md, "symc export RUN").</summary>
    public static JsonObject SymmetriesJson(ModelIR model, IReadOnlyList<SymmetryIR> symmetries, SymModel trained)
    {
        static JsonArray Actions(IEnumerable<ParamActionIR> actions, string what) => new(actions.Select(a => (JsonNode)new JsonObject
        {
            [what] = Key(a.Parameter),
            ["axis"] = a.Axis,
            ["role"] = a.Role.ToString().ToLowerInvariant(),
            ["inverse"] = a.Role == ActionRole.Inverse,
            ["unit"] = a.Unit,
        }).ToArray());

        var list = new JsonArray();
        foreach (var s in symmetries)
            list.Add(new JsonObject
            {
                ["name"] = s.Name,
                ["kind"] = s.Kind.ToString().ToLowerInvariant(),
                ["site"] = s.Target,
                ["dim"] = s.Dim,
                ["blocks"] = s.Blocks,
                ["declared"] = s.Declared,
                ["inferred"] = s.Inferred,
                ["exact"] = s.Exact,
                ["actions"] = Actions(s.Actions, "parameter"),
                ["buffer_actions"] = Actions(s.BufferActions, "buffer"),
            });

        // git re-basin's permutation_spec: every state_dict entry (parameters and buffers) with, per axis, the permutation
        // acting on it or null. Permutations of whole tiles (attention heads, unit > 1) and of several blocks do not fit
        // that form: they are listed apart.
        var shapes = new Dictionary<string, long[]>();
        foreach (var p in model.Parameters) shapes[Key(p.Name)] = [.. p.Shape.Select(d => (long)d)];
        foreach (var (name, buffer) in trained.Buffers()) shapes[Key(name)] = buffer.shape;
        var axesToPerm = shapes.ToDictionary(kv => kv.Key, kv => new string?[kv.Value.Length]);
        var permToAxes = new JsonObject();
        var apart = new JsonArray();
        foreach (var s in symmetries.Where(s => s.Kind == SymmetryKind.Permutation))
        {
            var actions = s.Actions.Concat(s.BufferActions).ToList();
            if (s.Blocks != 1 || actions.Any(a => a.Unit != 1 || a.Axis < 0 || !shapes.ContainsKey(Key(a.Parameter))))
            {
                apart.Add(s.Name);
                continue;
            }
            var axes = new JsonArray();
            foreach (var a in actions)
            {
                var slot = axesToPerm[Key(a.Parameter)];
                if (slot[a.Axis] is { } other && other != s.Name) { apart.Add(s.Name); axes = null; break; }
                axes.Add(new JsonArray(Key(a.Parameter), a.Axis));
            }
            if (axes is null) continue;
            foreach (var a in actions) axesToPerm[Key(a.Parameter)][a.Axis] = s.Name;
            permToAxes[s.Name] = axes;
        }
        return new JsonObject
        {
            ["model"] = model.Name,
            ["symmetries"] = list,
            ["permutation_spec"] = new JsonObject
            {
                ["perm_to_axes"] = permToAxes,
                ["axes_to_perm"] = new JsonObject(axesToPerm.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.Select(v => (JsonNode?)v).ToArray())))),
                ["not_expressible"] = apart,
            },
        };
    }
}
