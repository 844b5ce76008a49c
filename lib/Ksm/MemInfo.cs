using Largeguest.IO;
using System.Globalization;

namespace Largeguest.Ksm;

/// <summary>
/// The lines of <c>/proc/meminfo</c> this product uses, in KiB: the one reader of that file (the reconciler's
/// memory check, the tuner's cycle, status). <see cref="AvailableKiB"/> is -1 on kernels without MemAvailable.
/// </summary>
public readonly record struct MemInfo(
    long TotalKiB, long FreeKiB, long AvailableKiB, long BuffersKiB, long CachedKiB, long SwapTotalKiB = 0,
    long SwapFreeKiB = 0)
{
    public const string DefaultPath = "/proc/meminfo";

    /// <summary>
    /// Memory free for use: MemAvailable (the kernel's own estimate, since Linux 3.14). ksmtuned summed
    /// MemFree+Buffers+Cached, which counts tmpfs and other unreclaimable cache as free; that sum is the
    /// fallback on kernels without MemAvailable.
    /// </summary>
    public long UsableKiB => AvailableKiB >= 0 ? AvailableKiB : FreeKiB + BuffersKiB + CachedKiB;

    public static MemInfo Parse(string text, string source = DefaultPath)
    {
        long total = -1, free = -1, available = -1, buffers = 0, cached = 0, swapTotal = 0, swapFree = 0;
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0) continue;
            var name = line[..colon];
            if (name is not ("MemTotal" or "MemFree" or "MemAvailable" or "Buffers" or "Cached" or "SwapTotal"
                or "SwapFree"))
                continue;
            var parts = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0
                || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                throw new KsmException($"{source}: {name}: unreadable value '{line[(colon + 1)..].Trim()}'");
            switch (name)
            {
                case "MemTotal": total = kib; break;
                case "MemFree": free = kib; break;
                case "MemAvailable": available = kib; break;
                case "Buffers": buffers = kib; break;
                case "Cached": cached = kib; break;
                case "SwapTotal": swapTotal = kib; break;
                case "SwapFree": swapFree = kib; break;
            }
        }
        if (total <= 0) throw new KsmException($"{source}: no MemTotal line");
        if (free < 0) throw new KsmException($"{source}: no MemFree line");
        return new MemInfo(total, free, available, buffers, cached, swapTotal, swapFree);
    }

    public static MemInfo Read(string path = DefaultPath) =>
        Parse(SmallFile.TryRead(path) ?? throw new KsmException($"{path}: cannot read"), path);
}
