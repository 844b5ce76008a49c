namespace Largeguest.Grammar;

/// <summary>libvirt's <c>&lt;numatune&gt;&lt;memory mode&gt;</c> values.</summary>
public enum NumaMode { Strict, Preferred, Interleave, Restrictive }

public static class NumaModes
{
    public const string Syntax = "strict, preferred, interleave or restrictive";

    /// <summary>libvirt's spellings, indexed by <see cref="NumaMode"/> (<see cref="Spellings"/>; a unit test holds the
    /// two together).</summary>
    internal static readonly string[] Names = ["strict", "preferred", "interleave", "restrictive"];

    public static string Name(this NumaMode mode) => Names[(int)mode];

    public static bool TryParse(string text, out NumaMode mode)
    {
        var index = Spellings.IndexOf(Names, text);
        mode = (NumaMode)Math.Max(index, 0);
        return index >= 0;
    }
}

/// <summary>
/// The <c>numatune</c> property: <c>MODE#NODESET</c>, <c>MODE:NODESET</c> (the retired <c>numa</c> hook's
/// form) or a bare <c>NODESET</c>, whose mode comes from configuration (<c>NumaTune:DefaultMode</c>).
/// </summary>
public sealed record NumaTune(NumaMode Mode, CpuSet NodeSet)
{
    public const string Syntax = "MODE#NODESET, MODE:NODESET or NODESET with MODE strict, preferred, interleave or " +
        "restrictive, e.g. interleave#0-1, or auto (numad placement)";

    /// <summary>The value that asks for numad-driven placement instead of a binding.</summary>
    public const string Auto = "auto";

    public static bool IsAuto(string text) => text.Trim().Equals(Auto, StringComparison.OrdinalIgnoreCase);
    public const string LegacySyntax =
        "MODE:NODESET with MODE strict, preferred, interleave or restrictive, e.g. strict:0";

    public static NumaTune Parse(string text, NumaMode defaultMode)
    {
        var t = text.Trim();
        var sep = t.IndexOfAny(['#', ':']);
        if (sep < 0) return new NumaTune(defaultMode, ParseNodeSet(t, Syntax));
        return new NumaTune(ParseMode(t[..sep], Syntax), ParseNodeSet(t[(sep + 1)..], Syntax));
    }

    /// <summary>The retired <c>numa</c> hook's value: the mode is mandatory and separated by a colon.</summary>
    public static NumaTune ParseLegacy(string text)
    {
        var t = text.Trim();
        var sep = t.IndexOf(':');
        if (sep < 0) throw new SyntaxException($"bad token '{t}': no ':' between mode and nodeset", LegacySyntax);
        return new NumaTune(ParseMode(t[..sep], LegacySyntax), ParseNodeSet(t[(sep + 1)..], LegacySyntax));
    }

    private static NumaMode ParseMode(string text, string syntax) =>
        NumaModes.TryParse(text, out var mode) ? mode : throw new SyntaxException($"bad mode '{text.Trim()}'", syntax);

    private static CpuSet ParseNodeSet(string text, string syntax)
    {
        try { return CpuSet.Parse(text); }
        catch (SyntaxException e) { throw new SyntaxException($"bad nodeset: {e.Problem}", syntax); }
    }

    public override string ToString() => $"{Mode.Name()}#{NodeSet}";
}
