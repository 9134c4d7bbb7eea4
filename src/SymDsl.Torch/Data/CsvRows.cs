using System.Globalization;
using CsvHelper;
using CsvHelper.Configuration;
using SymDsl.Diagnostics;

namespace SymDsl.Torch.Data;

/// <summary>
/// Reads CSV records through CsvHelper: RFC 4180 quoting (commas, quotes and line breaks inside quoted fields,
/// <c>""</c> for a quote), LF or CRLF line ends, a UTF-8/UTF-16 byte-order mark. Cells are trimmed outside quotes;
/// blank lines are skipped. Each record comes with the 1-based line on which it starts, so that bad data is
/// reported as <c>file:line: message</c>; malformed quoting is reported the same way.
/// </summary>
internal static class CsvRows
{
    /// <summary>Opens <paramref name="path"/> (the byte-order mark decides the encoding, UTF-8 otherwise).</summary>
    public static StreamReader Open(string path) => new(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);

    /// <summary>The non-blank records of <paramref name="reader"/>; <paramref name="file"/> names it in errors.</summary>
    public static IEnumerable<(int Line, string[] Cells)> Read(TextReader reader, string file)
    {
        var start = 1; // the physical line on which the record being read starts (quoted fields may span lines)
        var config = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            HasHeaderRecord = false,
            TrimOptions = TrimOptions.Trim,
            IgnoreBlankLines = false, // a blank line is then a record of one empty cell: skipped below, but it keeps the line count exact
            DetectColumnCountChanges = false, // ragged rows are reported by the caller, which knows the header
            BadDataFound = args => throw new SymDslException(
                $"{file}:{start}: malformed quoted field {Shorten(args.Field)} (a quote inside a field must be doubled as \"\" and the field quoted; a quoted field must be closed)"),
        };
        using var parser = new CsvParser(reader, config);
        while (true)
        {
            string[] cells;
            try
            {
                if (!parser.Read()) yield break;
                cells = parser.Record!; // CsvHelper parses the fields (and reports bad quoting) here
            }
            catch (CsvHelperException e) when (e is not BadDataException)
            {
                throw new SymDslException($"{file}:{start}: cannot read this CSV record ({e.Message.Split('\n')[0].Trim()})", e);
            }
            var line = start;
            start = parser.RawRow + 1;
            if (cells.Length <= 1 && cells.All(c => c.Length == 0)) continue;
            yield return (line, cells);
        }
    }

    static string Shorten(string field)
    {
        var f = field.Trim().ReplaceLineEndings("⏎");
        return "\"" + (f.Length > 40 ? f[..40] + "…" : f) + "\"";
    }
}
