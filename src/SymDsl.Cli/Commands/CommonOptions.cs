using System.CommandLine;
using System.CommandLine.Parsing;

namespace SymDsl.Cli.Commands;

/// <summary>Arguments and options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Argument<FileInfo> SourceFile() => new("FILE")
    {
        Description = "The .sym model file.",
        Validators = { RejectOptionLikeFile },
    };

    /// <summary>An unknown flag given where FILE is expected (<c>symc check --bogus</c>) is bad usage, not a missing file.</summary>
    static void RejectOptionLikeFile(ArgumentResult result)
    {
        foreach (var token in result.Tokens)
            if (token.Value.StartsWith('-') && !File.Exists(token.Value))
                result.AddError($"unknown option '{token.Value}' (FILE expected)");
    }

    public static Option<string[]> Set() => new("--set")
    {
        Description = "Override a model hyper-parameter: --set NAME=VALUE (repeatable).",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
        Validators = { ValidateAssignments },
    };

    public static Option<long> MaxParameterBytes() => new("--max-param-bytes")
    {
        Description = "Refuse models whose parameters need more memory than this many bytes (float32).",
        DefaultValueFactory = _ => 4L << 30,
    };

    static void ValidateAssignments(OptionResult result)
    {
        foreach (var token in result.Tokens)
            if (!token.Value.Contains('=') || token.Value.StartsWith('='))
                result.AddError($"--set expects NAME=VALUE, got '{token.Value}'");
    }

    public static IReadOnlyDictionary<string, string> ParseAssignments(string[]? values)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in values ?? [])
        {
            int eq = v.IndexOf('=');
            result[v[..eq].Trim()] = v[(eq + 1)..].Trim();
        }
        return result;
    }
}
