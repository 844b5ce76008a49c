using System.Text.RegularExpressions;
using Largeguest.Grammar;

namespace Largeguest.Tests.Packaging;

/// <summary>
/// The hook's own verdict on a property value "at the syntax level", for comparison with the engine's
/// regular expressions. The parser is fail-fast and mixes syntax with semantic checks (a range that
/// ends before it starts, a vCPU pinned twice, ...), and a semantic error can hide a later syntax
/// error. So the verdict is the real parser's, run on the value after <see cref="Neutralize"/>: a
/// rewrite that keeps the syntax (it only touches digit runs, exclusion marks at the start of a
/// cpuset token, and repeated emulator keys) but makes every semantic check pass.
/// The test checks the rewrite: it never turns an accepted value into a rejected one, the regex gives
/// the same answer before and after it, and whenever it turns a rejected value into an accepted one
/// the parser's original complaint is one of <see cref="SemanticProblems"/>.
/// </summary>
internal static class SyntaxOracle
{
    /// <summary>The parser's checks that are semantic (docs/engine-config.md lists them); every other rejection is
    /// syntax.</summary>
    public static readonly IReadOnlyList<string> SemanticProblems =
    [
        "range ends before it starts",     // N-M with M < N
        "is above 16383",                  // an id above libvirt's VIR_DOMAIN_CPUMASK_LEN - 1
        "only a single id can be excluded", // ^N-M with M != N
        "selects no id",                   // exclusions remove every included id
        "is pinned twice",                 // a vCPU (or the emulator, or an I/O thread) in two cputune entries
        "iothread ids start at 1",         // iothread0 (libvirt numbers I/O threads from 1)
        "is in cell",                      // a vCPU in two guestnuma cells
        "too large",                       // a memory size above 1 EiB (or with more than 16 digits)
        "must be above zero",              // a memory size of 0
    ];

    /// <summary>The hook's parser on one property, exactly as the hook reads the environment.</summary>
    public static (bool Accepted, string? Problem) Parse(string name, string value)
    {
        var values = LargeguestProperties.Select(n => n == name ? value : null);
        try
        {
            LargeguestProperties.Parse(values, NumaMode.Preferred);
            return (true, null);
        }
        catch (PropertyException e) { return (false, e.Problem); }
    }

    public static bool SyntaxAccepted(string name, string value) => Parse(name, Neutralize(name, value)).Accepted;

    public static string? SemanticProblemIn(string problem) => SemanticProblems.FirstOrDefault(problem.Contains);

    // .NET's \s is exactly char.IsWhiteSpace, the set String.Trim() removes.
    private static readonly Regex Emulator = new(@"(?<=(?:^|,)\s*)[eE][mM][uU][lL][aA][tT][oO][rR](?=\s*#)");
    private static readonly Regex DigitRun = new("[0-9]+");

    /// <summary>Where a '^' starts a cpuset token, per property (a '^' elsewhere is a syntax error either
    /// way).</summary>
    private static readonly Dictionary<string, Regex[]> Exclusions = new()
    {
        [LargeguestProperties.Pincpu] = [new(@"(?<=(?:^|,)\s*)\^(?=\s*[0-9])")],
        // VCPUS; after '#' come MEMORY and NODES
        [LargeguestProperties.Guestnuma] = [new(@"(?<=(?:^|,)\s*)\^(?=\s*[0-9])")],
        [LargeguestProperties.Numatune] = [new(@"(?<=(?:^|[,#:])\s*)\^(?=\s*[0-9])")],
        [LargeguestProperties.Numa] = [new(@"(?<=(?:^|[,#:])\s*)\^(?=\s*[0-9])")],
        // after '#' (an entry's first cpuset token) or after ',' in a piece without '#' (a continuation
        // token); at the start of a piece with '#' it is a vCPU key, where '^' is a syntax error
        [LargeguestProperties.Cputune] = [new(@"(?<=#\s*)\^(?=\s*[0-9])"),
            new(@"(?<=,\s*)\^(?=\s*[0-9][^,#]*(?:,|\z))")],
    };

    /// <summary>
    /// Keeps the syntax, removes every semantic problem: repeated emulator keys become vCPU keys;
    /// exclusions become inclusions; digit runs are renumbered 1, 2, 3, ... in order of appearance
    /// (increasing ranges, distinct vCPUs and cells, ids and sizes in range), except runs of 7 or more
    /// digits, which stay that long (too long for an id, a valid size).
    /// </summary>
    public static string Neutralize(string name, string value)
    {
        if (name == LargeguestProperties.KsmMergeAcrossNodesName) return value;
        var v = value;
        if (name == LargeguestProperties.Cputune)
        {
            var seen = 0;
            v = Emulator.Replace(v, m => seen++ == 0 ? m.Value : "0");
        }
        foreach (var exclusion in Exclusions[name]) v = exclusion.Replace(v, "");
        var next = 0;
        return DigitRun.Replace(v,
            m => m.Length >= 7 ? "1000000" : (++next).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
