using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

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

    /// <summary><c>--train NAME</c>: the train block to run (ProgramIR.Train); needed when the file has several.</summary>
    public static Option<string?> TrainName() => new("--train")
    {
        Description = "Which train block to run: the NAME of `train MODEL as NAME`, else the model's name. Needed when the file has several train blocks.",
    };

    public static Option<long> MaxParameterBytes() => new("--max-param-bytes")
    {
        Description = "Refuse models whose parameters need more memory than this many bytes (float32).",
        DefaultValueFactory = _ => 4L << 30,
        CustomParser = r => WholeNumber(r, min: 1) ?? 0,
    };

    /// <summary>
    /// An optional whole-number option checked at parse time: a value that is not a whole number, or is below
    /// <paramref name="min"/> (or above <paramref name="max"/>), is bad usage (exit 2) with a message naming the option.
    /// </summary>
    public static Option<int?> OptionalCount(string name, string description, int min = 1, int max = int.MaxValue) => new(name)
    {
        Description = description,
        CustomParser = r => WholeNumber(r, min, max) is { } v ? (int)v : null,
    };

    /// <summary>A whole-number option with a default, checked at parse time like <see cref="OptionalCount"/>.</summary>
    public static Option<int> Count(string name, string description, int defaultValue, int min = 1, int max = int.MaxValue) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r => WholeNumber(r, min, max) is { } v ? (int)v : defaultValue,
    };

    /// <summary>The parser of --seed: a whole number ≥ 0.</summary>
    public static long? Seed(ArgumentResult result) => WholeNumber(result, min: 0);

    /// <summary>The option's value as a whole number in [min, max]; null (with an error on the result) otherwise.</summary>
    static long? WholeNumber(ArgumentResult result, long min, long max = long.MaxValue)
    {
        var name = (result.Parent as OptionResult)?.Option.Name ?? "the option";
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            result.AddError($"{name} expects a whole number, got '{text}'");
            return null;
        }
        if (value < min || value > max)
        {
            result.AddError(max == long.MaxValue || max == int.MaxValue
                ? $"{name} must be at least {min}, got {value}"
                : $"{name} must be between {min} and {max}, got {value}");
            return null;
        }
        return value;
    }

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
