using Largeguest.Config;
using Largeguest.Grammar;

namespace Largeguest.Host;

/// <summary>What the host checks need to know about the domain: its memory and how it is backed.</summary>
/// <param name="Memory">The domain's <c>&lt;memory&gt;</c> (every byte the guest can touch at start, DIMMs
/// included).</param>
/// <param name="HugePageKiB">Null: ordinary pages. Otherwise the huge page size backing the guest (0: the host's
/// default, i.e. its smallest huge page size).</param>
public sealed record DomainFacts(MemorySize Memory, long? HugePageKiB = null);

/// <summary>
/// The outcome of checking properties against the host: errors (the hook reports the first and exits 2),
/// warnings and notes for stderr, and the properties as they are to be applied (the strict-memory policy
/// <c>prefer</c> relaxes bindings) with the memory mode of each bound guest cell.
/// </summary>
public sealed record HostVerdict(
    IReadOnlyList<PropertyException> Errors,
    IReadOnlyList<string> Warnings,
    IReadOnlyList<string> Notes,
    LargeguestProperties Properties,
    IReadOnlyDictionary<int, NumaMode> CellModes);

/// <summary>
/// The properties checked against the host topology (docs/design.md sections 4 and 5), as a pure function of
/// (domain facts, properties, host model, configuration): every pinned CPU exists and is online, every
/// node of a nodeset exists and has memory, and a strict binding whose nodes cannot hold the memory bound
/// to them is handled by <c>NumaTune:StrictMemory</c> (warn, prefer, fail).
/// </summary>
public static class HostChecks
{
    /// <summary>Do these properties ask anything of the host? If not, the topology need not be read at all.</summary>
    public static bool Needed(LargeguestProperties p) =>
        p.CpuTune is not null || p.PinCpu is not null || p.NumaTune is not null
        || p.GuestNuma?.FirstBound is not null;

    /// <summary>Modes that confine memory to the nodeset: an overflow ends with the OOM killer, not in another
    /// node.</summary>
    public static bool Confines(NumaMode mode) => mode is NumaMode.Strict or NumaMode.Restrictive;

    /// <summary>Does the binding as it will be applied need <see cref="PreferredMany"/>: <c>preferred</c> on several
    /// nodes?</summary>
    public static bool NeedsPreferredMany(LargeguestProperties p)
        => p.NumaTune is { Mode: NumaMode.Preferred, NodeSet.Count: > 1 };

    /// <param name="preferredMany">Asked only when <see cref="NeedsPreferredMany"/> holds for the binding after the
    /// strict-memory policy.</param>
    public static HostVerdict Check(DomainFacts domain, LargeguestProperties p,
        HostTopology host, LargeguestConfig config, Func<PreferredMany> preferredMany)
    {
        var errors = new List<PropertyException>();
        var warnings = new List<string>();
        var notes = new List<string>();
        CheckCpus(p, host, errors);
        CheckNodes(p, host, errors);
        if (errors.Count > 0) return new HostVerdict(errors, warnings, notes, p, new Dictionary<int, NumaMode>());

        var policy = config.StrictMemory;
        var result = p;
        var cellMode = p.NumaTune?.Mode ?? config.DefaultMode;
        var cellModes = new Dictionary<int, NumaMode>();
        if (p.GuestNuma is { } numa)
            for (var id = 0; id < numa.Cells.Count; id++)
                if (numa.Cells[id].HostNodes is not null) cellModes[id] = cellMode;

        if (p.NumaTune is { } tune && Confines(tune.Mode))
        {
            var shortfall = Shortfall(domain, domain.Memory, tune.NodeSet, host);
            if (shortfall is not null)
            {
                var what = $"{tune.Mode.Name()} binding: the guest needs {shortfall}";
                var relaxed = Relaxed(tune.NodeSet);
                Apply(p.NumaTuneProperty, what, $"{relaxed.Name()}#{tune.NodeSet}", relaxed,
                    () => result = result with { NumaTune = tune with { Mode = relaxed } });
            }
        }
        if (p.GuestNuma is { } cells && Confines(cellMode))
        {
            foreach (var (nodes, ids) in CellsByNodes(cells))
            {
                var shortfall = Shortfall(domain, MemorySize.Sum(ids, id => cells.Cells[id].Memory), nodes, host);
                if (shortfall is null) continue;
                var label = ids.Count == 1 ? $"cell {ids[0]}" : $"cells {CpuSet.Format(ids)}";
                var relaxed = Relaxed(nodes);
                Apply(LargeguestProperties.Guestnuma, $"{cellMode.Name()} binding: {label} needs {shortfall}",
                    $"mode {relaxed.Name()} for {label}", relaxed,
                    () => { foreach (var id in ids) cellModes[id] = relaxed; });
            }
        }
        KeepBindingsTogether(p, ref result, cellModes, notes, warnings);
        if (NeedsPreferredMany(result) && preferredMany() is { Supported: false } unsupported)
        {
            var nodes = result.NumaTune!.NodeSet;
            var what = $"preferred on nodes {nodes}: {unsupported.Why}";
            if (config.PreferredManyNodes == PreferredManyPolicy.Interleave)
            {
                result = result with { NumaTune = result.NumaTune with { Mode = NumaMode.Interleave } };
                warnings.Add($"{p.NumaTuneProperty}: {what}; rewritten to interleave#{nodes}, which also falls back " +
                    "to other nodes when these are full (NumaTune:PreferredManyNodes=interleave)");
            }
            else
                errors.Add(new PropertyException(p.NumaTuneProperty, $"{what} (NumaTune:PreferredManyNodes=fail)",
                    $"interleave#{nodes}, or preferred on one node (e.g. preferred#{nodes.Ids.First()}); or " +
                    "NumaTune:PreferredManyNodes=interleave"));
        }
        return new HostVerdict(errors, warnings, notes, result, cellModes);

        void Apply(string property, string what, string instead, NumaMode relaxed, Action relax)
        {
            const string danger = "the kernel's answer to a confined allocation that does not fit is the OOM killer";
            switch (policy)
            {
                case StrictMemoryPolicy.Warn:
                    warnings.Add($"{property}: {what}; {danger}; consider {instead} (NumaTune:StrictMemory=warn)");
                    break;
                case StrictMemoryPolicy.Prefer:
                    relax();
                    notes.Add($"{property}: {what}; rewritten to {relaxed.Name()} so the memory can spill to other " +
                        "nodes (NumaTune:StrictMemory=prefer)");
                    break;
                default:
                    errors.Add(new PropertyException(property, $"{what}; refused because {danger} " +
                        "(NumaTune:StrictMemory=fail)",
                        $"nodes whose free memory holds it, or {instead}"));
                    break;
            }
        }
    }

    /// <summary>
    /// The guest-wide binding and the cells' after the strict-memory policy, made consistent (docs/topology.md,
    /// "Guest-wide and per-cell modes together"): libvirt refuses a <c>restrictive</c> guest-wide binding unless every
    /// <c>memnode</c> is <c>restrictive</c>, so a relaxed cell relaxes the guest-wide binding too; and a restrictive
    /// cell is confined only by a restrictive guest-wide binding (its memory has no policy of its own, only the guest's
    /// <c>cpuset.mems</c>), so once that is relaxed the cells that stay confined are written <c>strict</c>. A
    /// guest-wide <c>strict</c> binding that stays while a cell is relaxed bounds where that cell can spill: said as a
    /// warning.
    /// </summary>
    private static void KeepBindingsTogether(LargeguestProperties p, ref LargeguestProperties result,
        Dictionary<int, NumaMode> cellModes,
        List<string> notes, List<string> warnings)
    {
        if (result.NumaTune is not { } tune || cellModes.Count == 0) return;
        var relaxedCells = CellsWhere(cellModes, mode => !Confines(mode));
        var label = relaxedCells.Count == 1 ? $"cell {relaxedCells[0]}" : $"cells {CpuSet.Format(relaxedCells)}";
        if (tune.Mode == NumaMode.Restrictive && relaxedCells.Count > 0)
        {
            var relaxed = Relaxed(tune.NodeSet);
            result = result with { NumaTune = tune with { Mode = relaxed } };
            notes.Add($"{p.NumaTuneProperty}: restrictive binding: rewritten to {relaxed.Name()}#{tune.NodeSet} " +
                $"together with {label}, because libvirt requires every memnode restrictive when the guest-wide " +
                "memory is restrictive (NumaTune:StrictMemory=prefer)");
        }
        if (p.NumaTune is { Mode: NumaMode.Restrictive } && result.NumaTune!.Mode != NumaMode.Restrictive)
        {
            var kept = CellsWhere(cellModes, mode => mode == NumaMode.Restrictive);
            foreach (var id in kept) cellModes[id] = NumaMode.Strict;
            if (kept.Count > 0)
                notes.Add($"{LargeguestProperties.Guestnuma}: " +
                    $"{(kept.Count == 1 ? $"cell {kept[0]} stays" : $"cells {CpuSet.Format(kept)} stay")} confined " +
                    "as strict: a restrictive cell is confined only by a restrictive guest-wide binding, which is " +
                    $"now {result.NumaTune.Mode.Name()}");
        }
        if (result.NumaTune is { Mode: NumaMode.Strict } strict && relaxedCells.Count > 0)
            warnings.Add($"{LargeguestProperties.Guestnuma}: {label} {(relaxedCells.Count == 1 ? "is" : "are")} " +
                "relaxed to " +
                $"{string.Join("/", relaxedCells.Select(id => cellModes[id].Name()).Distinct())}, but the guest-wide " +
                $"strict binding on {NodesLabel(strict.NodeSet)} stays: libvirt confines the whole guest's memory " +
                $"(the emulator's cpuset.mems) to {strict.NodeSet}, so {label} can spill only within " +
                $"{NodesLabel(strict.NodeSet)}; " +
                $"a guest-wide binding on more nodes, or a relaxed guest-wide mode, lets it spill further");
    }

    /// <summary>The bound cells grouped by their host nodeset, groups in order of their first cell, each group's cell
    /// ids ascending.</summary>
    private static List<(CpuSet Nodes, List<int> Ids)> CellsByNodes(GuestNuma numa)
    {
        var groups = new List<(CpuSet Nodes, List<int> Ids)>();
        for (var id = 0; id < numa.Cells.Count; id++)
        {
            if (numa.Cells[id].HostNodes is not { } nodes) continue;
            var at = groups.FindIndex(g => g.Nodes.Equals(nodes));
            if (at < 0) groups.Add((nodes, [id]));
            else groups[at].Ids.Add(id);
        }
        return groups;
    }

    /// <summary>The cell ids whose mode satisfies <paramref name="select"/>, ascending.</summary>
    private static List<int> CellsWhere(Dictionary<int, NumaMode> cellModes, Func<NumaMode, bool> select)
    {
        var ids = new List<int>();
        foreach (var (id, mode) in cellModes)
            if (select(mode)) ids.Add(id);
        ids.Sort();
        return ids;
    }

    /// <summary>
    /// The non-confining mode a binding is relaxed to: <c>preferred</c> for one node; <c>interleave</c> for
    /// several, because libvirt before 9.3 refuses <c>preferred</c> with more than one node, and interleaved
    /// memory, like preferred, falls back to other nodes when the nodeset is full.
    /// </summary>
    public static NumaMode Relaxed(CpuSet nodes) => nodes.Count == 1 ? NumaMode.Preferred : NumaMode.Interleave;

    /// <summary>"node 1" or "nodes 0-1", as messages name a nodeset.</summary>
    private static string NodesLabel(CpuSet nodes) => nodes.Count == 1 ? $"node {nodes}" : $"nodes {nodes}";

    /// <summary>Null when <paramref name="nodes"/> can hold <paramref name="need"/>; else a description with the
    /// numbers.</summary>
    private static string? Shortfall(DomainFacts domain, MemorySize need, CpuSet nodes, HostTopology host)
    {
        var found = new List<HostNode>();
        foreach (var id in nodes.Ids)
            if (host.Node(id) is { } node) found.Add(node);
        var label = NodesLabel(nodes);
        if (domain.HugePageKiB is long requested)
        {
            var size = requested > 0 ? requested
                : found.SelectMany(n => n.HugePages).Select(pp => pp.SizeKiB).DefaultIfEmpty(2048).Min();
            var pools = found.Select(n => n.HugePages.FirstOrDefault(pp => pp.SizeKiB == size))
                .OfType<PagePool>().ToList();
            var free = new MemorySize(pools.Sum(pp => pp.Free ?? pp.Total) * size);
            var total = new MemorySize(pools.Sum(pp => pp.Total) * size);
            var page = new MemorySize(size).Readable();
            if (need <= free) return null;
            // The pages the binding lacks, so the administrator knows what to configure (a relaxed mode only helps
            // where other nodes have pages).
            var missing = (need.KiB - free.KiB + size - 1) / size;
            var where = nodes.Count == 1
                ? $"/sys/devices/system/node/node{nodes}/hugepages/hugepages-{size}kB/nr_hugepages"
                : $"nr_hugepages under /sys/devices/system/node/nodeN/hugepages/hugepages-{size}kB";
            var none = found.Where(n => n.HugePages.FirstOrDefault(pp => pp.SizeKiB == size) is not { Total: > 0 })
                .Select(n => n.Id).ToList();
            var unconfigured = none.Count == 0 ? ""
                : $"; {(none.Count == 1 ? $"node {none[0]} has" : $"nodes {CpuSet.Format(none)} have")} no {page} " +
                    "huge pages configured";
            return $"{need.Describe()} of {page} huge pages but {label} {(found.Count == 1 ? "has" : "have")} " +
                $"{free.Describe()} free ({total.Readable()} configured)" +
                $"{unconfigured}; configure {missing} more {page} page{(missing == 1 ? "" : "s")} on {label} ({where})";
        }
        var freeMemory = MemorySize.Sum(found, n => n.Free);
        var totalMemory = MemorySize.Sum(found, n => n.Total);
        return need <= freeMemory ? null
            : $"{need.Describe()} but {label} {(found.Count == 1 ? "has" : "have")} {freeMemory.Describe()} free of " +
                $"{totalMemory.Readable()}";
    }

    private static void CheckCpus(LargeguestProperties p, HostTopology host, List<PropertyException> errors)
    {
        if (p.CpuTune is { } tune)
        {
            foreach (var pin in tune.Pins)
                if (Problem(pin.CpuSet, host) is { } problem)
                    errors.Add(Error(LargeguestProperties.Cputune, $"vCPU {pin.VcpuText} is pinned to {problem}"));
            if (tune.Emulator is { } emulator && Problem(emulator, host) is { } eproblem)
                errors.Add(Error(LargeguestProperties.Cputune, $"the emulator is pinned to {eproblem}"));
            foreach (var pin in tune.IoThreads)
                if (Problem(pin.CpuSet, host) is { } iproblem)
                    errors.Add(Error(LargeguestProperties.Cputune, $"iothread {pin.Id} is pinned to {iproblem}"));
        }
        if (p.PinCpu is { } pincpu && Problem(pincpu, host) is { } pproblem)
            errors.Add(Error(LargeguestProperties.Pincpu, $"the vCPUs are pinned to {pproblem}"));

        PropertyException Error(string property, string problem) =>
            new(property, problem, $"CPUs this host has and that are online: {host.OnlineCpuIds}");
    }

    private static string? Problem(CpuSet cpus, HostTopology host)
    {
        List<int> missing = [], offline = [];
        foreach (var id in cpus.Ids)
            if (host.Cpu(id) is not { } cpu) missing.Add(id);
            else if (!cpu.Online) offline.Add(id);
        if (missing.Count > 0)
            return $"CPU {CpuSet.Format(missing)}, which this host does not have (host CPUs: {host.CpuIds})";
        if (offline.Count > 0)
            return $"CPU {CpuSet.Format(offline)}, which {(offline.Count == 1 ? "is" : "are")} offline on this host " +
                $"(online CPUs: {host.OnlineCpuIds})";
        return null;
    }

    private static void CheckNodes(LargeguestProperties p, HostTopology host, List<PropertyException> errors)
    {
        if (p.NumaTune is { } tune && Problem(tune.NodeSet, host) is { } problem)
            errors.Add(Error(p.NumaTuneProperty, $"the memory is bound to {problem}"));
        if (p.GuestNuma is { } numa)
            for (var id = 0; id < numa.Cells.Count; id++)
                if (numa.Cells[id].HostNodes is { } nodes && Problem(nodes, host) is { } cproblem)
                    errors.Add(Error(LargeguestProperties.Guestnuma, $"cell {id} is bound to {cproblem}"));

        PropertyException Error(string property, string problem) =>
            new(property, problem, $"NUMA nodes of this host that have memory: {host.NodeIdsWithMemory}");

        static string? Problem(CpuSet nodes, HostTopology host)
        {
            List<int> missing = [], empty = [];
            foreach (var id in nodes.Ids)
                if (host.Node(id) is not { } node) missing.Add(id);
                else if (!node.HasMemory) empty.Add(id);
            if (missing.Count > 0)
                return $"NUMA node {CpuSet.Format(missing)}, which this host does not have " +
                    $"(host nodes: {host.NodeIds})";
            if (empty.Count > 0)
                return $"NUMA node {CpuSet.Format(empty)}, which has no memory (nodes with memory: " +
                    $"{host.NodeIdsWithMemory})";
            return null;
        }
    }
}
