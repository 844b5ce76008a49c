namespace Largeguest.IO;

/// <summary>
/// The product's stderr voice: one line per message, prefixed so VDSM's log shows who spoke. The writer is asked of
/// <paramref name="stderr"/> at the first message: setting up <c>Console.Error</c> (encoding, stream) cost a hook
/// run that has nothing to say ~0.03 ms (docs/testing.md, "make bench").
/// </summary>
public sealed class Diagnostics(Func<TextWriter> stderr)
{
    public const string Program = "largeguest";

    private TextWriter? _writer;

    public Diagnostics(TextWriter stderr) : this(() => stderr) { }

    private TextWriter Writer => _writer ??= stderr();

    /// <summary>
    /// Longest line: a message quoting a hostile token (megabytes of it) must stay readable in VDSM's log, whose
    /// records of a hook's stderr are meant to be read, not scrolled. Longer lines keep their start (what is wrong)
    /// and end (what happens), with the middle cut.
    /// </summary>
    public const int MaxLineChars = 512;

    public enum Severity { Error, Warning, Note }

    public void Error(string message) => Write(Severity.Error, message);
    public void Warn(string message) => Write(Severity.Warning, message);
    public void Note(string message) => Write(Severity.Note, message);

    public void Write(Severity severity, string message) =>
        Writer.WriteLine(Capped(Prefix(severity) + OneLine(message)));

    /// <summary>
    /// A line as <see cref="Write"/> printed it, read back (the hook reads the privileged helper's stderr this way):
    /// its severity and message; null for a line that is not one of ours.
    /// </summary>
    public static (Severity Severity, string Text)? Parse(string line)
    {
        foreach (var severity in (ReadOnlySpan<Severity>)[Severity.Error, Severity.Warning, Severity.Note])
            if (line.StartsWith(Prefix(severity), StringComparison.Ordinal))
                return (severity, line[Prefix(severity).Length..]);
        return null;
    }

    private static string Prefix(Severity severity) => severity switch
    {
        Severity.Error => $"{Program}: error: ",
        Severity.Warning => $"{Program}: warning: ",
        _ => $"{Program}: note: ",
    };

    /// <summary>
    /// One line, printable: line breaks become spaces (VDSM logs a failing hook's whole stderr as one
    /// <c>rc=... err=b'...'</c> record, so one message per line keeps that record readable); other control characters
    /// (an ESC from a property value would drive the admin's terminal) are written as <c>\xNN</c>.
    /// </summary>
    private static string OneLine(string message)
    {
        var text = message.ReplaceLineEndings(" ").Trim();
        var span = text.AsSpan(); // char.IsControl's two ranges, searched vectorised
        if (!span.ContainsAnyInRange('\u0000', '\u001F') && !span.ContainsAnyInRange('\u007F', '\u009F')) return text;
        var sb = new System.Text.StringBuilder(text.Length + 16);
        foreach (var c in text)
            if (char.IsControl(c)) sb.Append($"\\x{(int)c:x2}"); else sb.Append(c);
        return sb.ToString();
    }

    /// <summary>Cuts the middle, where a quoted token sits: the start names the property, the end says what
    /// happens.</summary>
    private static string Capped(string line)
    {
        if (line.Length <= MaxLineChars) return line;
        // 312 + 160 + the marker (at most 35 characters, for a line of 10^8 characters or fewer) stays within
        // MaxLineChars; never split a surrogate pair.
        var head = char.IsHighSurrogate(line[311]) ? 311 : 312;
        var tail = char.IsLowSurrogate(line[^160]) ? 159 : 160;
        return $"{line[..head]} ... ({line.Length - head - tail} characters cut) ... {line[^tail..]}";
    }
}
