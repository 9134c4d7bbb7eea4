namespace SymDsl.Text;

/// <summary>A range in a source file. Lines and columns are 1-based; the end is exclusive.</summary>
public readonly record struct SourceSpan(string File, int Line, int Column, int EndLine, int EndColumn)
{
    public static SourceSpan None(string file) => new(file, 0, 0, 0, 0);
    public bool IsNone => Line == 0;
    public override string ToString() => IsNone ? File : $"{File}:{Line}:{Column}";
}
