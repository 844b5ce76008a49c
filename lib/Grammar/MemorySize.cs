using System.Globalization;

namespace Largeguest.Grammar;

/// <summary>An amount of memory in KiB, written as a plain number of KiB or with a binary suffix.</summary>
public readonly record struct MemorySize(long KiB) : IComparable<MemorySize>
{
    public const string Syntax = "a size in KiB, or with a suffix K, M, G, T (or KiB, MiB, GiB, TiB), e.g. 10G";

    private static readonly (string Suffix, int Shift)[] Units = [("T", 30), ("G", 20), ("M", 10), ("K", 0)];

    /// <summary>Ceiling so that byte arithmetic never overflows: 1 EiB.</summary>
    public const long MaxKiB = 1L << 50;

    public static MemorySize Parse(string text)
    {
        var t = text.Trim();
        var digits = 0;
        while (digits < t.Length && char.IsAsciiDigit(t[digits])) digits++;
        if (digits == 0) throw new SyntaxException($"bad size '{t}'", Syntax);
        var suffix = t[digits..].Trim();
        var shift = 0;
        if (suffix.Length > 0)
        {
            var letter = suffix[..1].ToUpperInvariant();
            var rest = suffix[1..];
            var unit = Array.FindIndex(Units, u => u.Suffix == letter);
            if (unit < 0 || (rest.Length > 0 && !rest.Equals("iB", StringComparison.OrdinalIgnoreCase)))
                throw new SyntaxException($"bad size '{t}': unknown unit '{suffix}'", Syntax);
            shift = Units[unit].Shift;
        }
        if (digits > 16
            || !long.TryParse(t.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            || n > (MaxKiB >> shift))
            throw new SyntaxException($"bad size '{t}': too large", Syntax);
        if (n == 0) throw new SyntaxException($"bad size '{t}': must be above zero", Syntax);
        return new MemorySize(n << shift);
    }

    /// <summary>The sizes added up, overflow-checked (as LINQ's <c>Sum</c> was): values from a domain or a
    /// host never wrap to a small total.</summary>
    public static MemorySize Sum<T>(IEnumerable<T> items, Func<T, MemorySize> size)
    {
        long kib = 0;
        foreach (var item in items) kib = checked(kib + size(item).KiB);
        return new(kib);
    }

    public static MemorySize operator +(MemorySize a, MemorySize b) => new(a.KiB + b.KiB);
    public static MemorySize operator -(MemorySize a, MemorySize b) => new(a.KiB - b.KiB);
    public static bool operator <(MemorySize a, MemorySize b) => a.KiB < b.KiB;
    public static bool operator >(MemorySize a, MemorySize b) => a.KiB > b.KiB;
    public static bool operator <=(MemorySize a, MemorySize b) => a.KiB <= b.KiB;
    public static bool operator >=(MemorySize a, MemorySize b) => a.KiB >= b.KiB;
    public int CompareTo(MemorySize other) => KiB.CompareTo(other.KiB);

    /// <summary>Canonical property form: the largest unit that divides exactly (<c>10G</c>, <c>1536M</c>,
    /// <c>7K</c>).</summary>
    public override string ToString()
    {
        foreach (var (suffix, shift) in Units)
            if (KiB != 0 && KiB % (1L << shift) == 0)
                return (KiB >> shift).ToString(CultureInfo.InvariantCulture) + suffix;
        return KiB.ToString(CultureInfo.InvariantCulture) + "K";
    }

    /// <summary>For messages: exact KiB plus a readable form, e.g. <c>16777216 KiB (16 GiB)</c>.</summary>
    public string Describe()
    {
        var kib = KiB.ToString(CultureInfo.InvariantCulture) + " KiB";
        var readable = Readable();
        return readable == kib ? kib : $"{kib} ({readable})";
    }

    /// <summary>The product's one size formatter: the largest binary unit that keeps a whole part, at most
    /// <paramref name="decimals"/> decimals ("1.5 MiB", "16 GiB").</summary>
    public string Readable(int decimals = 2)
    {
        string[] names = ["KiB", "MiB", "GiB", "TiB"];
        double v = KiB;
        var i = 0;
        while (Math.Abs(v) >= 1024 && i < names.Length - 1) { v /= 1024; i++; }
        return i == 0 ? string.Create(CultureInfo.InvariantCulture, $"{KiB} {names[0]}")
            : v.ToString("0." + new string('#', decimals), CultureInfo.InvariantCulture) + " " + names[i];
    }
}
