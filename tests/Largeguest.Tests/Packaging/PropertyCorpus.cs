using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Largeguest.Grammar;

namespace Largeguest.Tests.Packaging;

/// <summary>
/// Property values for the regex-versus-parser comparison: values built from the grammar (with
/// random whitespace, letter case and numbers, semantic errors included), the same values after one
/// to three random edits, short random strings over the grammar's alphabet, and hand-picked cases.
/// </summary>
internal static class PropertyCorpus
{
    /// <summary>Every whitespace character String.Trim() removes, plus look-alikes it keeps.</summary>
    private static readonly string[] Spaces = [" ", "  ", "\t", "\n", "\r\n", "\v", "\f", "\u0085", "\u00A0", "\u1680",
        "\u2003", "\u200A", "\u2028", "\u2029", "\u202F", "\u205F", "\u3000"];
    private static readonly string[] NotSpaces = ["\uFEFF", "\u200B", "\u180E", "_", "."];

    /// <summary>What edits insert: the grammar's characters, neighbours of them, and traps for either side.</summary>
    private static readonly string[] Alphabet =
    [
        .. "0123456789^-,#:".Select(c => c.ToString()),
        .. "eEmMuUlLaAtToOrRsSiIcCpPfFdDnNvVkKgGbBxX".Select(c => c.ToString()),
        .. Spaces, .. NotSpaces,
        ";", "=", "'", "\u0663" /* Arabic-Indic 3 */, "\uFF11" /* fullwidth 1 */, "\u212A" /* Kelvin K */,
            "\u0131" /* dotless i */, "\u017F" /* long s */,
        "\u00E9", "\uD83D\uDE00", "\uD800" /* lone surrogate */,
    ];

    private static readonly string[] Modes = ["strict", "preferred", "interleave", "restrictive"];

    private static Gen<string> Ws =>
        Gen.Frequency((12, Gen.Constant("")), (5, Gen.Constant(" ")), (3, Gen.Elements(Spaces)));

    private static Gen<string> Cased(string word) =>
        Gen.Frequency((3, Gen.Constant(word)), (1, Gen.Constant(word.ToUpperInvariant())),
            (2, Gen.ArrayOf(Gen.Elements(true, false), word.Length)
                .Select(up => new string(word.Select((c, i) => up[i] ? char.ToUpperInvariant(c) : c).ToArray()))));

    /// <summary>1 to 6 digits: mostly small ids, sometimes libvirt's limit, leading zeros or 6-digit values.</summary>
    private static Gen<string> Id =>
        Gen.Frequency(
            (10, Gen.Choose(0, 40).Select(n => n.ToString())),
            (2, Gen.Elements("16383", "16384", "99999", "999999", "000", "0007", "100000")),
            (1, Gen.Choose(0, 999999).Select(n => n.ToString())));

    private static Gen<string> Range =>
        Gen.Frequency(
            (3, Id),
            (2, from a in Id from w1 in Ws from w2 in Ws from b in Id select $"{a}{w1}-{w2}{b}"));

    private static Gen<string> CpuToken =>
        from excl in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        from w in Ws
        from r in Range
        select excl ? $"^{w}{r}" : r;

    private static Gen<string> Join(Gen<string> item, int max) =>
        from n in Gen.Choose(1, max)
        from items in Gen.ArrayOf(item, n)
        from seps in Gen.ArrayOf(from a in Ws from b in Ws select $"{a},{b}", n)
        select string.Concat(items.Select((it, i) => i == 0 ? it : seps[i] + it));

    private static Gen<string> CpuSetValue => Join(CpuToken, 4);

    private static Gen<string> Mode => Gen.Elements(Modes).SelectMany(Cased);

    private static Gen<string> Memory =>
        from digits in Gen.Frequency(
            (8, Gen.Choose(0, 4096).Select(n => n.ToString())),
            (1, Gen.Elements("0", "00000000000000001", "1048576", "1048577", "1125899906842624",
                "99999999999999999999")))
        from w in Ws
        from unit in Gen.Frequency((2, Gen.Constant("")), (3, Gen.Elements("K", "M", "G", "T").SelectMany(Cased)))
        from ib in Gen.Frequency((3, Gen.Constant("")), (1, Cased("iB")))
        select unit.Length == 0 ? digits : $"{digits}{w}{unit}{ib}";

    private static Gen<string> Padded(Gen<string> value) =>
        from a in Ws from v in value from b in Ws select a + v + b;

    /// <summary>Syntactically valid values of a property (semantic errors allowed).</summary>
    public static Gen<string> Valid(string name) => name switch
    {
        LargeguestProperties.Pincpu => Padded(CpuSetValue),
        LargeguestProperties.Numatune => Padded(Gen.Frequency(
            (1, CpuSetValue),
            (3, from m in Mode from w1 in Ws from sep in Gen.Elements("#",
                ":") from w2 in Ws from s in CpuSetValue select $"{m}{w1}{sep}{w2}{s}"))),
        LargeguestProperties.Numa => Padded(
            from m in Mode from w1 in Ws from w2 in Ws from s in CpuSetValue select $"{m}{w1}:{w2}{s}"),
        LargeguestProperties.Cputune => Padded(Join(
            from key in Gen.Frequency((5, Range), (1, Cased("emulator")), (1,
                from w in Cased("iothread") from n in Id select w + n))
            from w1 in Ws from w2 in Ws from s in CpuSetValue
            select $"{key}{w1}#{w2}{s}", 4)),
        LargeguestProperties.Guestnuma => Padded(Join(
            from vcpus in CpuSetValue from w1 in Ws from w2 in Ws from mem in Memory
            from nodes in Gen.Frequency((3, Gen.Constant("")), (1,
                from w3 in Ws from w4 in Ws from r in Range select $"{w3}#{w4}{r}"))
            select $"{vcpus}{w1}#{w2}{mem}{nodes}", 3)),
        LargeguestProperties.KsmMergeAcrossNodesName => Padded(Gen.Elements("0", "1")),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>One random edit: delete, insert, replace, duplicate a slice, or swap neighbours.</summary>
    private static Gen<string> Edit(string s) =>
        from op in Gen.Choose(0, s.Length == 0 ? 1 : 4)
        from i in Gen.Choose(0, Math.Max(0, s.Length - 1))
        from j in Gen.Choose(0, s.Length)
        from c in Gen.Elements(Alphabet)
        select op switch
        {
            0 when s.Length > 0 => s.Remove(i, 1),
            0 or 1 => s.Insert(Math.Min(j, s.Length), c),
            2 => s.Remove(i, 1).Insert(i, c),
            3 => s.Insert(Math.Max(i, j), s[Math.Min(i, j)..Math.Max(i, j)]),
            _ when i + 1 < s.Length => s[..i] + s[i + 1] + s[i] + s[(i + 2)..],
            _ => s + c,
        };

    public static Gen<string> Mutated(string name) =>
        from v in Valid(name)
        from n in Gen.Choose(1, 3)
        from edited in Enumerable.Range(0, n).Aggregate(Gen.Constant(v), (g, _) => g.SelectMany(Edit))
        select edited;

    public static Gen<string> Junk =>
        from n in Gen.Choose(0, 10)
        from parts in Gen.ArrayOf(Gen.Elements(Alphabet), n)
        select string.Concat(parts);

    /// <summary>Hand-picked values: the documented examples and the edges of each grammar.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Enumerated = new Dictionary<string, string[]>
    {
        [LargeguestProperties.Cputune] =
        [
            "0#0-3,^2,1#4-7,emulator#8", "0#0-3,1-3#4-7,emulator#8", "0#1", " 0 # 1 ", "0-3#4-7", "EMULATOR#0",
                "emulator#0,emulator#1",
            "0#1,0#2", "3-1#0", "0#5-3", "0#^1", "0#1,^1", "^0#1", "0#1,^2#3", "#1", "0#", "0#1,", ",0#1", "0#1,,1#2",
                "0 1#2", "0#1 2",
            "0#1#2", "emulator", "emu lator#1", "0-#1", "0#1-", "1234567#1", "0#1234567", "016383#0", "16384#0",
                "0#16384", "x#1", "0#x",
            "\u00A00#1\u3000", "0\u2028#\u20291", "0\uFEFF#1", "", " ", "\t", "0#1;1#2", "0#1\n", "0#1\r\n",
            "iothread1#0", "0#1,iothread2#3,IOTHREAD1#4", "iothread0#1", "iothread#1", "iothread 1#1", "iothread1 #1",
                " iothread1# 1",
            "iothread1234567#1", "iothread000001#1", "iothread1-2#1", "iothread1#1,iothread1#2", "iothread1,0#1",
                "iothreads1#1",
            "\u0131othread1#1", "iothread\u0661#1", "io thread1#1", "0#0_1#1", "0#0-3_1#4,5", "emulator#0_iothread1#1",
        ],
        [LargeguestProperties.Numatune] =
        [
            "interleave#0-1", "strict:0", "0-1", "auto", " AUTO ", "Auto", "auto#0", "auto:0", "autox", "auto,0",
                "0,auto", "PREFERRED#0", "Restrictive:1", " strict # 0 , 2 ", "strict#", "#0", "strict", "strict#0#1",
            "strict:0:1", "strict#0:1", "bogus#0", "stric#0", "strictly#0", "s trict#0", "strict#^0", "strict#0,^0",
                "^0", "0,^0", "strict#3-1",
            "strict#16384", "\u017Ftrict#0", "str\u0131ct#0", "0", "", " ",
        ],
        [LargeguestProperties.Guestnuma] =
        [
            "0-7#10G,8-15#10G", "0-3,8-11#8G,4-7,12-15#8G", "0#1024", "0#1K", "0#1KiB", "0#1kib", "0#1 G", "0#1G iB",
                "0#1Gi", "0#1GB",
            "0#1Q", "0#0", "0#0G", "0#1048576T", "0#1048577T", "0#00000000000000001", "0#99999999999999999999",
                "0#1G#0", "0#1G#0-1",
            "0#1G#0,1", "0#1G#^0", "0#1G#0#1", "0#1G,0#1G", "0-3#1G,2-5#1G", "0,1", "0#1G,1", ",0#1G", "0#", "#1G",
                "0#G", "0#1\u212AiB",
            "0#1Ki\u0131B", "^0,1#1G", "^0#1G", "", " ",
        ],
        [LargeguestProperties.KsmMergeAcrossNodesName] = ["0", "1", " 0 ", "\u00A01\u3000", "2", "01", "0 1", "00",
            "-1", "true", "", " "],
        [LargeguestProperties.Pincpu] =
        [
            "1-4,^3", "0", "0-7,^3", " 3 , 1,2 ", "0,2,4-5,^5", "0-3,^0,^1,^2", "^1", "^1-1", "^1-2", "^2-1", "^ 1",
                "^^1", "1,^1", "3-1",
            "1-", "-1", "1--2", "1-2-3", "1,,2", ",1", "1,", "99999", "999999", "1234567", "0000001", "a", "1 2", "",
                " ",
        ],
        [LargeguestProperties.Numa] =
        [
            "strict:0", "interleave:0-1", "STRICT : 0 , 1", "strict#0", "0", "strict", "strict:", ":0", "strict:0:1",
                "bogus:0", "strict:^0",
            "preferred:3-1", "", " ",
        ],
    };

    /// <summary>The whole corpus for one property; <paramref name="seed"/> makes it reproducible.</summary>
    public static List<string> For(string name, ulong seed, int valid = 500, int mutated = 1500, int junk = 300)
    {
        var rnd = new Rnd(seed);
        var values = new List<string>(Enumerated[name]);
        values.AddRange(Valid(name).Sample(valid, rnd, 20));
        values.AddRange(Mutated(name).Sample(mutated, new Rnd(seed + 1), 20));
        values.AddRange(Junk.Sample(junk, new Rnd(seed + 2), 20));
        // Long values, as a 1024-vCPU guest pinned vCPU by vCPU gives: the JVM (default 1 MiB thread stack,
        // as in the engine) must answer, not overflow its stack, for valid values and for broken ones.
        if (Long(name) is { } longValue) values.AddRange([longValue, longValue + ",x", "x," + longValue]);
        return values.Distinct(StringComparer.Ordinal).ToList();
    }

    private static string? Long(string name)
    {
        var ids = string.Join(",", Enumerable.Range(0, 1024));
        return name switch
        {
            LargeguestProperties.Cputune => string.Join(",", Enumerable.Range(0, 1024)
                .Select(i => $"{i}#{i}")) + ",emulator#0-3",
            LargeguestProperties.Guestnuma => string.Join(",", Enumerable.Range(0, 512)
                .Select(i => $"{2 * i},{2 * i + 1}#1G")),
            LargeguestProperties.Numatune => "strict#" + ids,
            LargeguestProperties.Numa => "strict:" + ids,
            LargeguestProperties.Pincpu => ids,
            _ => null,
        };
    }

    /// <summary>A value shown in a failure message: escaped so that invisible characters are visible.</summary>
    public static string Show(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
            sb.Append(c is >= ' ' and < '\u007F' ? c.ToString() : $"\\u{(int)c:X4}");
        return sb.Append('"').ToString();
    }
}
