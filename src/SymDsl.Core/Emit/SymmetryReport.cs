using System.Text;
using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Symmetries;

namespace SymDsl.Emit;

/// <summary>The symmetry report in markdown: per model, each symmetry (declared / inferred), its actions; per train block, what each break and diagnose does.</summary>
public static class SymmetryReport
{
    public static string Render(Compilation compilation)
        => compilation.Program is { } p ? Render(p, compilation.Diagnostics) : RenderFailed(compilation);

    static string RenderFailed(Compilation c)
    {
        var sb = new StringBuilder();
        sb.Append($"# Symmetry report: {Path.GetFileName(c.Path)}\n\nThe file did not compile:\n\n");
        foreach (var d in c.Diagnostics) sb.Append($"- `{d}`\n");
        return sb.ToString();
    }

    public static string Render(ProgramIR program, IReadOnlyList<Diagnostic> diagnostics)
    {
        var sb = new StringBuilder();
        sb.Append($"# Symmetry report: {Path.GetFileName(program.SourcePath)}\n");
        foreach (var m in program.Models)
        {
            sb.Append($"\n## Model {m.Name}\n\n");
            sb.Append($"{m.ParameterCount:N0} parameters; hyper-parameters: {(m.HyperParameters.Count == 0 ? "none" : string.Join(", ", m.HyperParameters.Select(kv => $"{kv.Key} = {kv.Value}")))}.\n\n");
            if (m.Symmetries.Count == 0) { sb.Append("No parameter symmetries were inferred.\n"); }
            else
            {
                sb.Append("| symmetry | kind | target | units | status | actions |\n|---|---|---|---|---|---|\n");
                foreach (var s in m.Symmetries)
                {
                    var status = s.Declared ? "declared, verified by the rules" : "inferred, not declared";
                    var units = s.Blocks > 1 ? $"{s.Blocks} blocks × {s.Dim}" : s.Dim.ToString();
                    sb.Append($"| `{s.Name}` | {s.Kind.ToString().ToLowerInvariant()} | `{s.Target}` | {units} | {status} | {string.Join("; ", s.Actions.Select(Action))} |\n");
                }
                sb.Append('\n');
                foreach (var s in m.Symmetries) sb.Append($"- `{SymmetryInference.Spell(s.Kind, s.Target)}`: {Meaning(s)}\n");
            }
            var warnings = diagnostics.Where(d => d.Level == DiagnosticLevel.Warning && m.Span.Line <= d.Span.Line && d.Span.Line <= m.Span.EndLine).ToList();
            if (warnings.Count > 0)
            {
                sb.Append("\nWarnings:\n\n");
                foreach (var d in warnings) sb.Append($"- line {d.Span.Line}: {d.Code}: {d.Message}\n");
            }
            foreach (var t in program.Trains.Where(t => t.Model == m.Name))
            {
                sb.Append($"\n### Training {m.Name}\n\n");
                sb.Append($"Data {t.Data.Kind}, loss {t.Loss.Kind}({t.Loss.Output}, {t.Loss.Target}), optimizer {t.Optimizer.Kind}({string.Join(", ", t.Optimizer.Args.Select(kv => $"{kv.Key} = {kv.Value}"))}), batch {t.Batch}, {(t.Steps is { } st ? $"{st} steps" : $"{t.Epochs} epochs")}, seed {t.Seed}.\n\n");
                foreach (var b in t.Breaks)
                    sb.Append($"- **break {b.Method}({string.Join(", ", b.Args.Select(kv => $"{kv.Key} = {kv.Value}"))}) on {string.Join(", ", b.Symmetries)}**: {Break(b)} Parameters: {string.Join(", ", b.Parameters.Select(p => $"`{p}`"))}.\n");
                foreach (var d in t.Diagnostics)
                    sb.Append($"- **diagnose {d.Key}** every {d.Every} steps: {Metric(d, m)}\n");
                foreach (var i in t.Induces)
                    sb.Append($"- **induce {i.Structure}{(i.Args.Count == 0 ? "" : "(" + string.Join(", ", i.Args.Select(kv => $"{kv.Key} = {kv.Value}")) + ")")} on `{i.Parameter}`**: {(i.Structure == "sparsity" ? "reparametrise P = u ⊙ v (a rescale symmetry per entry); with weight decay this acts like an L1 penalty on P." : "reparametrise P = U Vᵀ (a rotation symmetry); with weight decay this acts like a nuclear-norm penalty on P.")}\n");
                foreach (var x in t.Teleports)
                    sb.Append($"- **teleport {string.Join(", ", x.Groups)}** every {x.Every} steps: before the step after every {x.Every} steps (the first step too), move the parameters along {(x.Groups.Count == 1 ? "this group" : "these groups")} to a point of larger gradient norm on the step's batch, the loss unchanged (checked to 1e-6 relative).\n");
                if (t.Breaks.Count + t.Diagnostics.Count + t.Induces.Count == 0) sb.Append("No break, diagnose or induce clauses.\n");
            }
        }
        return sb.ToString();
    }

    static string Action(ParamActionIR a) => (a.Role switch
    {
        ActionRole.Shift => $"`{a.Parameter}` += c·1",
        ActionRole.Forward when a.Axis == -1 => $"`{a.Parameter}` × c",
        ActionRole.Inverse when a.Axis == -1 => $"`{a.Parameter}` ÷ c",
        ActionRole.Forward => $"`{a.Parameter}` axis {a.Axis} forward",
        ActionRole.Inverse => $"`{a.Parameter}` axis {a.Axis} inverse",
        _ => throw new ArgumentOutOfRangeException(nameof(a), a.Role, null),
    }) + (a.Unit > 1 ? $" ({a.Unit} entries per unit)" : "");

    static string Meaning(SymmetryIR s) => s.Kind switch
    {
        SymmetryKind.Permutation => $"reordering the {s.Dim} units of {s.Target} (rows of the producers, columns of the consumers) leaves the function unchanged. Collapsed state: duplicated units (measure: `duplicates`).",
        SymmetryKind.Rescale => $"scaling unit i of {s.Target} in by c_i > 0 and out by 1/c_i leaves the function unchanged; gradient flow conserves ‖w_in,i‖² + b_i² − ‖w_out,i‖². Collapsed state: dead units (measures: `collapse`, `balance`).",
        SymmetryKind.Sign => $"flipping the sign of unit i of {s.Target} in and out leaves the function unchanged. Collapsed state: units at zero (measure: `collapse`).",
        SymmetryKind.Rotation when s.Blocks > 1 => $"an invertible map per head ({s.Blocks} heads of {s.Dim}) applied to one projection and undone by the other leaves attention unchanged. Collapsed state: low rank (measure: `rank`).",
        SymmetryKind.Rotation => $"W → A W, V → V A⁻¹ for invertible A on the {s.Dim} units of {s.Target} (W the producers, V the consumers); gradient flow conserves Σ W Wᵀ − Σ Vᵀ V. Collapsed state: low rank (measures: `rank`, `balance`).",
        SymmetryKind.Translation => $"adding c to every unit of {s.Target} (through its producer's bias) is absorbed downstream (softmax, cross-entropy or a LayerNorm's mean); gradient flow conserves Σ b_i (measure: `drift`).",
        SymmetryKind.Scale => $"scaling the producers of {s.Target} by c > 0 leaves the normalisation's output unchanged; the weight norm only grows or shrinks (measure: `norm`).",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s.Kind, null),
    };

    static string Break(BreakIR b) => Vocabulary.Regularizers.Get(b.Method).Description(b);

    static string Metric(DiagnoseIR d, ModelIR m) => Vocabulary.Metrics.Get(d.Metric).Description(d);
}
