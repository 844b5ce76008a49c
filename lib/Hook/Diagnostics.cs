namespace Largeguest.Hook;

/// <summary>The product's stderr voice: one line per message, prefixed so VDSM's log shows who spoke.</summary>
public sealed class Diagnostics(TextWriter stderr)
{
    public const string Program = "largeguest";

    public TextWriter Writer { get; } = stderr;

    /// <summary>
    /// Longest error line: an error quoting a hostile token (megabytes of it) must stay readable in VDSM's log. Our
    /// own longest messages (a MoM failure with its paths, about 650 characters) fit whole.
    /// </summary>
    public const int MaxErrorChars = 768;

    public void Error(string message) => Writer.WriteLine(Capped($"{Program}: error: {OneLine(message)}"));
    public void Warn(string message) => Writer.WriteLine($"{Program}: warning: {OneLine(message)}");
    public void Note(string message) => Writer.WriteLine($"{Program}: note: {OneLine(message)}");

    /// <summary>
    /// One line, printable: line breaks become spaces (VDSM logs a failing hook's whole stderr as one
    /// <c>rc=... err=b'...'</c> record, so one message per line keeps that record readable); other control characters (an ESC from a property value would drive the admin's terminal) are
    /// written as <c>\xNN</c>.
    /// </summary>
    private static string OneLine(string message)
    {
        var text = message.ReplaceLineEndings(" ").Trim();
        if (!text.Any(char.IsControl)) return text;
        var sb = new System.Text.StringBuilder(text.Length + 16);
        foreach (var c in text)
            if (char.IsControl(c)) sb.Append($"\\x{(int)c:x2}"); else sb.Append(c);
        return sb.ToString();
    }

    /// <summary>Cuts the middle, where a quoted token sits: the start names the property, the end says what happens.</summary>
    private static string Capped(string line)
    {
        if (line.Length <= MaxErrorChars) return line;
        const int head = 480, tail = 240;
        return $"{line[..head]} ... ({line.Length - head - tail} characters cut) ... {line[^tail..]}";
    }
}
