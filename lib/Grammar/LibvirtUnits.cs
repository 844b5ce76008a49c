using System.Globalization;
namespace Largeguest.Grammar;

/// <summary>libvirt's memory <c>unit</c> attribute (default KiB; <c>KB</c>, <c>MB</c>... are powers of 1000), as both
/// the domain XML and libvirt's host capabilities use it.</summary>
public static class LibvirtUnits
{
    /// <param name="where">What is being read, for the message (e.g. <c>domain XML: &lt;memory&gt;</c>).</param>
    /// <param name="error">The caller's exception for a bad value (the domain's or the host topology's).</param>
    public static MemorySize ToMemory(string value, string? unit, string where, Func<string, Exception> error)
    {
        if (!ulong.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            throw error($"{where} '{value.Trim()}' is not a whole number");
        var bytesPerUnit = BytesPer(unit?.Trim() ?? "KiB")
            ?? throw error($"{where} has unknown unit '{unit}'");
        var bytes = (System.Numerics.BigInteger)n * bytesPerUnit;
        var kib = bytes / 1024;
        if (kib > MemorySize.MaxKiB) throw error($"{where} '{value.Trim()} {unit}' is implausibly large");
        return new MemorySize((long)kib);
    }

    private static ulong? BytesPer(string unit) => unit switch
    {
        "b" or "bytes" => 1,
        "KB" => 1000UL, "k" or "K" or "KiB" => 1UL << 10,
        "MB" => 1000UL * 1000, "M" or "MiB" => 1UL << 20,
        "GB" => 1000UL * 1000 * 1000, "G" or "GiB" => 1UL << 30,
        "TB" => 1000UL * 1000 * 1000 * 1000, "T" or "TiB" => 1UL << 40,
        "PB" => 1000UL * 1000 * 1000 * 1000 * 1000, "P" or "PiB" => 1UL << 50,
        "EB" => 1000UL * 1000 * 1000 * 1000 * 1000 * 1000, "E" or "EiB" => 1UL << 60,
        _ => null,
    };
}
