namespace SymDsl.Semantics;

/// <summary>"Did you mean" suggestions: the closest candidate within a small edit distance.</summary>
public static class Names
{
    public static string? Suggest(string name, IEnumerable<string> candidates)
    {
        if (name.Length < 3) return null; // one- or two-letter names: any guess would be noise
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates.Distinct())
        {
            var d = Distance(name.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance) { bestDistance = d; best = c; }
        }
        var limit = Math.Max(1, name.Length / 3);
        return best is not null && bestDistance <= limit && best != name ? best : null;
    }

    static int Distance(string a, string b)
    {
        if (a.Length > 64 || b.Length > 64) return int.MaxValue;
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1); // transposition
            }
        return d[a.Length, b.Length];
    }

    /// <summary>An identifier for generated code: <c>fc[2]</c> → <c>fc_2</c>.</summary>
    public static string Sanitize(string name)
    {
        var chars = name.Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_').ToArray();
        var s = new string(chars).Trim('_');
        while (s.Contains("__")) s = s.Replace("__", "_");
        if (s.Length == 0 || char.IsDigit(s[0])) s = "_" + s;
        return s;
    }

    public static string Shape(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";
}
