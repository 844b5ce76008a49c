using System.Text;

namespace Largeguest.Grammar;

/// <summary>One <c>VCPUS#CPUSET</c> entry: vCPUs <see cref="First"/>..<see cref="Last"/> may run on <see cref="CpuSet"/>.</summary>
public sealed record VcpuPin(int First, int Last, CpuSet CpuSet)
{
    public IEnumerable<int> Vcpus => Enumerable.Range(First, Last - First + 1);
    /// <summary>The vCPUs as written: <c>3</c> or <c>0-3</c>.</summary>
    public string VcpuText => First == Last ? $"{First}" : $"{First}-{Last}";

    public override string ToString() => VcpuText + "#" + CpuSet;
}

/// <summary>
/// The <c>cputune</c> property: <c>VCPUS#CPUSET</c> entries, optional <c>emulator#CPUSET</c>.
/// Example: <c>0#0-3,^2,1#4-7,emulator#8</c>.
/// </summary>
public sealed class CpuTune
{
    public const string Syntax = "VCPUS#CPUSET[,VCPUS#CPUSET...][,emulator#CPUSET], e.g. 0#0-3,1-3#4-7,emulator#8";

    public IReadOnlyList<VcpuPin> Pins { get; }
    public CpuSet? Emulator { get; }

    public CpuTune(IReadOnlyList<VcpuPin> pins, CpuSet? emulator)
    {
        Pins = pins;
        Emulator = emulator;
    }

    public IEnumerable<(int Vcpu, CpuSet CpuSet)> PinnedVcpus => Pins.SelectMany(p => p.Vcpus.Select(v => (v, p.CpuSet)));

    public static CpuTune Parse(string text)
    {
        var pins = new List<VcpuPin>();
        CpuSet? emulator = null;
        var seen = new HashSet<int>();
        foreach (var entry in EntryList.Split(text, EntryList.Glue.ToPrevious, Syntax))
        {
            var hash = entry.IndexOf('#');
            var key = entry[..hash].Trim();
            var cpuset = Wrap(() => CpuSet.Parse(entry[(hash + 1)..]), entry);
            if (key.Equals("emulator", StringComparison.OrdinalIgnoreCase))
            {
                if (emulator is not null) throw new SyntaxException($"bad token '{entry}': emulator is pinned twice", Syntax);
                emulator = cpuset;
                continue;
            }
            if (key.Length == 0) throw new SyntaxException($"bad token '{entry}': no vCPU before '#'", Syntax);
            var (first, last) = Wrap(() => CpuSet.ParseRange(key, key), entry);
            foreach (var v in Enumerable.Range(first, last - first + 1))
                if (!seen.Add(v)) throw new SyntaxException($"bad token '{entry}': vCPU {v} is pinned twice", Syntax);
            pins.Add(new VcpuPin(first, last, cpuset));
        }
        return new CpuTune(pins, emulator);
    }

    /// <summary>Re-throws a cpuset error with this grammar's expected syntax, quoting the entry.</summary>
    private static T Wrap<T>(Func<T> parse, string entry)
    {
        try { return parse(); }
        catch (SyntaxException e) { throw new SyntaxException($"in '{entry}': {e.Problem}", Syntax); }
    }

    /// <summary>
    /// The same vCPU pins in the engine's CPU pinning-string syntax (<c>VCPU#CPUSET</c> per vCPU, joined by
    /// <c>_</c>: <c>0#0-3_1#4-7</c>), for the engine's "Manual" CPU Pinning Policy, so that the engine's
    /// <c>&lt;vcpupin&gt;</c> elements and ours agree. The engine has no emulator pin.
    /// </summary>
    public string ToEnginePinning() => string.Join("_", PinnedVcpus.OrderBy(p => p.Vcpu).Select(p => $"{p.Vcpu}#{p.CpuSet}"));

    public override string ToString()
    {
        var sb = new StringBuilder(string.Join(",", Pins));
        if (Emulator is not null) sb.Append(sb.Length > 0 ? "," : "").Append("emulator#").Append(Emulator);
        return sb.ToString();
    }
}
