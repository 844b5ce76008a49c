using System.Globalization;

namespace Largeguest.Ksm;

/// <summary>How the KSM code writes a point in time for machines (the journal, <c>ksm status --json</c>, the tuner's
/// state): UTC, ISO 8601, milliseconds.</summary>
internal static class Timestamp
{
    public const string Format = "yyyy-MM-ddTHH:mm:ss.fffZ";

    public static string Text(DateTimeOffset time) => time.UtcDateTime.ToString(Format, CultureInfo.InvariantCulture);
}
