using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SymDsl.Emit;

namespace SymDsl.Core.Tests;

/// <summary>Every generated module compiles on its own against TorchSharp.dll (metadata only: nothing native is loaded).</summary>
public class GeneratedCSharpTests
{
    public static IEnumerable<object[]> Samples() => Baselines.Valid();

    [Theory]
    [MemberData(nameof(Samples))]
    public void Generated_module_compiles_against_TorchSharp(string sample)
    {
        var c = Baselines.Compile(sample);
        Assert.NotNull(c.Program);
        foreach (var m in c.Program!.Models) AssertCompiles(CSharpEmitter.Emit(m, "Test.Generated"), m.Name);
    }

    [Fact]
    public void Generated_module_for_overridden_hyper_parameters_compiles()
    {
        var c = Compiler.CompileText("main.sym", Baselines.Source("ForLoopDeep"), new CompileOptions(new Dictionary<string, string> { ["depth"] = "5", ["width"] = "8" }));
        Assert.NotNull(c.Program);
        var code = CSharpEmitter.Emit(c.Program!.Models[0], "Test.Generated");
        Assert.Contains("fc_5 = nn.Linear(width * 2, width * 2, hasBias: true);", code);
        Assert.Contains("if (depth != 5)", code);
        AssertCompiles(code, "Deep");
    }

    [Fact]
    public void Multi_input_model_uses_dictionaries_and_compiles()
    {
        const string src = """
            model Two() {
                input a: [4]
                input b: [4]
                layer fa = Linear(4, 3)
                layer fb = Linear(4, 3)
                s = fa(a) + fb(b)
                output y = relu(s)
                output z = 2.0 * s
            }
            """;
        var c = Compiler.CompileText("two.sym", src);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var code = CSharpEmitter.Emit(c.Program!.Models[0], "Test.Generated");
        Assert.Contains("nn.Module<Dictionary<string, Tensor>, Dictionary<string, Tensor>>", code);
        AssertCompiles(code, "Two");
    }

    /// <summary>Found by the fuzzer: layer names that clash once sanitised, or with the class or its members, got one field.</summary>
    [Fact]
    public void Layer_names_that_clash_in_CSharp_get_distinct_fields()
    {
        const string src = """
            model clash() {
                input x: [3, 4]
                h[0] = x
                for i in 1..2 {
                    layer fc[i] = Linear(4, 4)
                    h[i] = relu(fc[i](h[i - 1]))
                }
                layer fc_1 = Linear(4, 4)
                layer forward = Linear(4, 4)
                layer Clash = Linear(4, 4)
                layer r[1] = RNN(4, 4)
                layer r_1 = RNN(4, 4)
                layer OdeRnn_r_1 = Linear(4, 4)
                output y = OdeRnn_r_1(r_1(r[1](Clash(forward(fc_1(h[2]))))))
            }
            """;
        var c = Compiler.CompileText("clash.sym", src);
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        var code = CSharpEmitter.Emit(c.Program!.Models[0], "Test.Generated");
        Assert.Contains("private readonly Linear fc_1;", code);
        Assert.Contains("private readonly Linear fc_1_2;", code);
        Assert.Contains("private readonly Linear forward_2;", code);
        Assert.Contains("private readonly Linear Clash_2;", code);
        Assert.Contains("private readonly OdeRnn_r_1 r_1;", code);
        Assert.Contains("private readonly OdeRnn_r_1_2 r_1_2;", code);
        Assert.Contains("private readonly Linear layer_OdeRnn_r_1;", code);
        AssertCompiles(code, "Clash");
    }

    static void AssertCompiles(string code, string what)
    {
        var problem = Fuzzing.FuzzOracle.CheckCompiles([(what + ".g.cs", code)]);
        Assert.True(problem is null, $"generated C# for {what}: {problem}\n\n{code}");
    }
}

public class BuildArtifactsTests
{
    [Fact]
    public void Build_writes_ir_json_modules_and_report()
    {
        var dir = Path.Combine(Path.GetTempPath(), "symdsl-build-" + Guid.NewGuid().ToString("N"));
        try
        {
            var c = Compiler.CompileFile(Paths.Example("mlp.sym"));
            var written = BuildArtifacts.Write(c, dir).Select(Path.GetFileName).ToList();
            Assert.Equal(["program.ir.json", "Mlp.g.cs", "symmetry-report.md"], written);
            var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "program.ir.json")));
            var model = json.RootElement.GetProperty("models")[0];
            Assert.Equal("Mlp", model.GetProperty("name").GetString());
            Assert.Equal(3, model.GetProperty("symmetries").GetArrayLength());
            Assert.Contains("public sealed class Mlp : nn.Module<Tensor, Tensor>", File.ReadAllText(Path.Combine(dir, "Mlp.g.cs")));
            Assert.Contains("| `perm` | permutation | `h` |", File.ReadAllText(Path.Combine(dir, "symmetry-report.md")));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Build_writes_nothing_when_there_are_errors()
    {
        var c = Compiler.CompileText("bad.sym", "model M( {");
        Assert.Empty(BuildArtifacts.Write(c, Path.Combine(Path.GetTempPath(), "symdsl-never-" + Guid.NewGuid().ToString("N"))));
        Assert.Contains("did not compile", SymmetryReport.Render(c));
    }
}
