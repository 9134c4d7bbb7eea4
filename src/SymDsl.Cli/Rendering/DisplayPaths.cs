namespace SymDsl.Cli.Rendering;

/// <summary>Paths as a user reads them: relative to the working directory when inside it, absolute otherwise.</summary>
internal static class DisplayPaths
{
    public static string Of(string path)
    {
        string full = Path.GetFullPath(path);
        string relative = Path.GetRelativePath(Environment.CurrentDirectory, full);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? full : relative;
    }
}
