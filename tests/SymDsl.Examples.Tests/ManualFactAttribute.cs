namespace SymDsl.Examples.Tests;

/// <summary>
/// A tool kept beside the tests (it regenerates README numbers or figures from full-size runs), not a claim test:
/// it runs only when <c>variable</c> is set and is reported as skipped otherwise, so CI never counts it as passed.
/// </summary>
public sealed class ManualFactAttribute : FactAttribute
{
    public ManualFactAttribute(string variable, string? value = null)
    {
        var actual = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(actual) || (value is not null && actual != value))
            Skip = $"manual: set {variable}{(value is null ? "" : "=" + value)} to run";
    }
}
