using System.Globalization;
using Largeguest.Grammar;

namespace Largeguest.Domain;

/// <summary>libvirt's memory <c>unit</c> attribute (default KiB; <c>KB</c>, <c>MB</c>... are powers of 1000).</summary>
public static class LibvirtUnits
{
    public static MemorySize ToMemory(string value, string? unit, string where)
    {
        if (!ulong.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            throw new DomainXmlException($"{where} '{value.Trim()}' is not a whole number");
        var bytesPerUnit = BytesPer(unit?.Trim() ?? "KiB")
            ?? throw new DomainXmlException($"{where} has unknown unit '{unit}'");
        var bytes = (System.Numerics.BigInteger)n * bytesPerUnit;
        var kib = bytes / 1024;
        if (kib > MemorySize.MaxKiB) throw new DomainXmlException($"{where} '{value.Trim()} {unit}' is implausibly large");
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
