using System.Globalization;

namespace Largeguest.Grammar;

/// <summary>One virtual NUMA cell; <see cref="HostNodes"/> is the optional per-cell host binding.</summary>
public sealed record GuestCell(CpuSet Vcpus, MemorySize Memory, CpuSet? HostNodes = null)
{
    public override string ToString() => $"{Vcpus}#{Memory}" + (HostNodes is null ? "" : $"#{FormatNodes(HostNodes)}");

    private static string FormatNodes(CpuSet nodes) =>
        nodes.Count == 1 ? nodes.Min.ToString(CultureInfo.InvariantCulture) : $"{nodes.Min}-{nodes.Max}";
}

/// <summary>
/// The <c>guestnuma</c> property: cells <c>VCPUS#MEMORY[#NODESET]</c> separated by commas; cell ids are
/// 0, 1, ... in order. A token without <c>#</c> belongs to the next cell's VCPUS
/// (<c>0-3,8-11#8G,4-7,12-15#8G</c>); a cell's NODESET is a single node or range (<c>0</c>, <c>0-1</c>).
/// </summary>
public sealed class GuestNuma(IReadOnlyList<GuestCell> cells)
{
    public const string Syntax =
        "VCPUS#MEMORY[#NODES][,VCPUS#MEMORY[#NODES]...] with MEMORY in KiB or with K, M, G, T, e.g. 0-7#10G,8-15#10G";

    public IReadOnlyList<GuestCell> Cells { get; } = cells;

    public MemorySize TotalMemory => MemorySize.Sum(Cells, c => c.Memory);

    /// <summary>The first cell bound to host nodes, or null.</summary>
    public GuestCell? FirstBound
    {
        get
        {
            foreach (var cell in Cells)
                if (cell.HostNodes is not null) return cell;
            return null;
        }
    }

    public static GuestNuma Parse(string text)
    {
        var cells = new List<GuestCell>();
        foreach (var entry in EntryList.Split(text, EntryList.Glue.ToNext, Syntax))
        {
            var fields = entry.Split('#');
            if (fields.Length > 3) throw new SyntaxException($"bad token '{entry}': too many '#'", Syntax);
            var vcpus = Field(() => CpuSet.Parse(fields[0]), entry, "vCPUs");
            var memory = Field(() => MemorySize.Parse(fields[1]), entry, "memory");
            CpuSet? nodes = null;
            if (fields.Length == 3)
            {
                var (first, last) =
                    Field(() => CpuSet.ParseRange(fields[2].Trim(), fields[2].Trim()), entry, "host nodes");
                nodes = CpuSet.Range(first, last);
            }
            cells.Add(new GuestCell(vcpus, memory, nodes));
        }
        // Which cell each vCPU is in: linear, where comparing every pair of cells was quadratic (16384
        // one-vCPU cells, a 120 KiB value, took 2 s). Reports the same pair as that comparison would.
        var owner = new Dictionary<int, int>();
        for (var i = 0; i < cells.Count; i++)
        {
            var j = int.MaxValue;
            foreach (var v in cells[i].Vcpus.Ids)
                if (owner.TryGetValue(v, out var o) && o < j) j = o;
            if (j != int.MaxValue)
                throw new SyntaxException(
                    $"vCPU {cells[i].Vcpus.Ids.First(cells[j].Vcpus.Contains)} is in cell {j} and cell {i}", Syntax);
            foreach (var v in cells[i].Vcpus.Ids) owner[v] = i;
        }
        return new GuestNuma(cells);
    }

    private static T Field<T>(Func<T> parse, string entry, string what)
    {
        try { return parse(); }
        catch (SyntaxException e) { throw new SyntaxException($"in '{entry}': bad {what}: {e.Problem}", Syntax); }
    }

    public override string ToString() => string.Join(",", Cells);
}
