using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace SymDsl.Torch.Tests;

/// <summary>
/// Guards over the library sources (src/, generated parser excluded), read with Roslyn so that strings and comments
/// (e.g. the C# the emitter writes) do not count.
/// </summary>
public class SourceGuardTests
{
    static IEnumerable<string> SourceFiles() =>
        Directory.EnumerateFiles(Path.Combine(Paths.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));

    /// <summary>Process-global generator state: never read, seeded or restored by the library.</summary>
    static readonly HashSet<string> GlobalRng = ["manual_seed", "get_rng_state", "set_rng_state", "seed", "initial_seed"];

    /// <summary>torch functions that draw random numbers: only with an explicit <c>generator:</c> (a run's own).</summary>
    static readonly HashSet<string> RandomFactories =
    [
        "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "bernoulli", "multinomial", "normal",
        "poisson", "uniform_", "normal_", "random_", "bernoulli_", "exponential_", "geometric_", "cauchy_", "log_normal_",
        "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "orthogonal_", "trunc_normal_", "sparse_",
    ];

    /// <summary>Draw randomly with no way to pass a generator in TorchSharp 0.107: not used at all.</summary>
    static readonly HashSet<string> Forbidden = ["dropout", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "rrelu", "Dropout"];

    internal static List<string> RngViolations(string path, string text)
    {
        var found = new List<string>();
        var root = CSharpSyntaxTree.ParseText(text, path: path).GetRoot();
        foreach (var call in root.DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            var name = call.Expression switch
            {
                MemberAccessExpressionSyntax m => m.Name.Identifier.ValueText,
                IdentifierNameSyntax i => i.Identifier.ValueText,
                GenericNameSyntax g => g.Identifier.ValueText,
                _ => null,
            };
            if (name is null) continue;
            var line = call.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
            var where = $"{Path.GetRelativePath(Paths.Root, path)}:{line}: {call}";
            if (name is "manual_seed" or "get_rng_state" or "set_rng_state" || (GlobalRng.Contains(name) && call.Expression.ToString().StartsWith("torch", StringComparison.Ordinal)))
                found.Add(where + " (process-global RNG)");
            else if (Forbidden.Contains(name))
                found.Add(where + " (draws from the global RNG; no generator parameter)");
            else if (RandomFactories.Contains(name))
            {
                var gen = call.ArgumentList.Arguments.FirstOrDefault(a => a.NameColon?.Name.Identifier.ValueText == "generator");
                if (gen is null || gen.Expression.IsKind(SyntaxKind.NullLiteralExpression))
                    found.Add(where + " (random draw without generator:)");
            }
        }
        return found;
    }

    [Fact]
    public void The_library_never_touches_the_global_generator_and_draws_only_from_its_own()
    {
        var violations = SourceFiles().SelectMany(f => RngViolations(f, File.ReadAllText(f))).ToList();
        Assert.True(violations.Count == 0, "random draws that a run does not own:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void The_rng_guard_catches_what_it_should()
    {
        const string bad = """
            class C { void M() {
                torch.manual_seed(1);
                using var s = torch.random.get_rng_state();
                var a = torch.randn(3);
                var b = randn([3], generator: null);
                t.uniform_(-1, 1);
                var d = F.dropout(x, 0.5);
            } }
            """;
        Assert.Equal(6, RngViolations("/x.cs", bad).Count);
        const string good = """
            class C { void M(Generator g) {
                var a = torch.randn(3, generator: g);
                var s = "torch.empty(3).uniform_(-1, 1); torch.manual_seed(1)";
                t.uniform_(-1, 1, generator: g);
            } }
            """;
        Assert.Empty(RngViolations("/x.cs", good));
    }

    /// <summary>
    /// Every implicit conversion to <c>TorchSharp.Scalar</c> (double/float/int/long/bool → Scalar) in the compiled
    /// library sources of <paramref name="folders"/>: such a Scalar is referenced only while its handle is read, so the
    /// GC may finalize (free) it while libtorch still reads it (see src/SymDsl.Torch/README.md, "Native object lifetime").
    /// </summary>
    internal static List<string> ImplicitScalars(IEnumerable<(string path, string text)> files)
    {
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(f.text, options, path: f.path)).ToList();
        trees.Add(CSharpSyntaxTree.ParseText("""
            global using System; global using System.IO; global using System.Linq; global using System.Collections.Generic;
            global using System.Threading; global using System.Threading.Tasks; global using System.Net.Http;
            """, options));
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var refs = tpa.Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(p => !Path.GetFileName(p).StartsWith("SymDsl.Torch", StringComparison.Ordinal))
            .GroupBy(Path.GetFileName).Select(g => MetadataReference.CreateFromFile(g.First())).ToList();
        var compilation = CSharpCompilation.Create("guard", trees, refs, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Take(5).ToList();
        Assert.True(errors.Count == 0, "the guard could not compile the sources: " + string.Join("\n", errors));
        var scalar = compilation.GetTypeByMetadataName("TorchSharp.Scalar")!;
        var found = new List<string>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var expr in tree.GetRoot().DescendantNodes().OfType<ExpressionSyntax>())
            {
                var info = model.GetTypeInfo(expr);
                if (expr.Parent is MemberAccessExpressionSyntax member && member.Name == expr) continue; // reported as the whole a.b
                if (info.Type is null || SymbolEqualityComparer.Default.Equals(info.Type, scalar)) continue;
                if (!SymbolEqualityComparer.Default.Equals(info.ConvertedType, scalar)) continue;
                var conversion = model.GetConversion(expr);
                if (!conversion.IsImplicit || !conversion.IsUserDefined) continue;
                var line = expr.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
                found.Add($"{Path.GetRelativePath(Paths.Root, tree.FilePath)}:{line}: {expr} → Scalar");
            }
        }
        return found;
    }

    [Fact]
    public void The_library_creates_no_implicit_scalars()
    {
        var dir = Path.Combine(Paths.Root, "src", "SymDsl.Torch");
        var files = SourceFiles().Where(f => f.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal)).Select(f => (f, File.ReadAllText(f)));
        var found = ImplicitScalars(files);
        Assert.True(found.Count == 0, $"{found.Count} implicit conversions to TorchSharp.Scalar (use an explicit, disposed Scalar; see NativeSection):\n" + string.Join("\n", found));
    }
}
