namespace SymDsl.Tests;

/// <summary>Locates the repository from the test binaries (bin/…/net10.0 → the folder holding SymDsl.sln).</summary>
internal static class Paths
{
    public static string Root { get; } = FindRoot();
    public static string Example(string name) => Path.Combine(Root, "examples", name);

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SymDsl.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}
