namespace Largeguest.Hook;

/// <summary>The product's stderr voice: one line per message, prefixed so VDSM's log shows who spoke.</summary>
public sealed class Diagnostics(TextWriter stderr)
{
    public const string Program = "largeguest";

    public TextWriter Writer { get; } = stderr;

    public void Error(string message) => Writer.WriteLine($"{Program}: error: {OneLine(message)}");
    public void Warn(string message) => Writer.WriteLine($"{Program}: warning: {OneLine(message)}");
    public void Note(string message) => Writer.WriteLine($"{Program}: note: {OneLine(message)}");

    /// <summary>VDSM logs stderr line by line; a message must never spill onto a second line.</summary>
    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
