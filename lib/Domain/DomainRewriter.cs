using Largeguest.Domain.Editors;
using Largeguest.Grammar;

namespace Largeguest.Domain;

/// <summary>Checks the properties against the domain and applies each to its element family.</summary>
public static class DomainRewriter
{
    /// <param name="cellModes">Memory mode per bound guest cell when the host checks decided it (strict-memory policy);
    /// else numatune's mode or the default.</param>
    /// <param name="warn">Where the rewrite says what it changed beyond the request (pincpu under automatic
    /// placement).</param>
    public static void Apply(DomainDocument doc, LargeguestProperties p, NumaMode defaultMode,
        IReadOnlyDictionary<int, NumaMode>? cellModes = null,
        Action<string>? warn = null)
    {
        DomainChecks.Check(doc, p);
        Edit(doc, p, defaultMode, cellModes, warn);
    }

    /// <summary>As <see cref="Apply"/>, for a caller that has run <see cref="DomainChecks.Check"/> on this document
    /// already (the hook runs it before the host checks, whose rewrites change modes only, never what the domain checks
    /// look at).</summary>
    public static void Edit(DomainDocument doc, LargeguestProperties p, NumaMode defaultMode,
        IReadOnlyDictionary<int, NumaMode>? cellModes = null,
        Action<string>? warn = null)
    {
        if (p.PinCpu is { } pincpu) ApplyPinCpu(doc, pincpu, p.NumaTune is not null, warn);
        if (p.CpuTune is { } tune) CpuTuneEditor.Apply(doc, tune);
        if (p.NumaTune is { } numatune) NumaTuneEditor.ApplyMemory(doc, numatune);
        if (p.NumaAuto)
        {
            VcpuEditor.ApplyAutoPlacement(doc);
            NumaTuneEditor.ApplyAutoPlacement(doc);
        }
        if (p.GuestNuma is { } numa)
        {
            GuestNumaEditor.Apply(doc, numa);
            var mode = p.NumaTune?.Mode ?? defaultMode;
            var memNodes = new List<MemNode>();
            for (var id = 0; id < numa.Cells.Count; id++)
                if (numa.Cells[id].HostNodes is { } nodes)
                    memNodes.Add(new MemNode(id, cellModes?.GetValueOrDefault(id, mode) ?? mode, nodes));
            NumaTuneEditor.ApplyMemNodes(doc, memNodes, numa.Cells.Count);
        }
        RequireRestrictiveMemNodes(doc, p);
    }

    /// <summary>
    /// libvirt refuses a <c>restrictive</c> guest-wide <c>&lt;memory&gt;</c> beside a <c>&lt;memnode&gt;</c> of another
    /// mode (docs/topology.md, "Guest-wide and per-cell modes together"). The host checks keep our own bindings
    /// together; this catches the mix with what the domain already had (the engine's restrictive binding beside our
    /// cells, or its memnodes beside our restrictive binding), checked on the result before anything is written.
    /// </summary>
    private static void RequireRestrictiveMemNodes(DomainDocument doc, LargeguestProperties p)
    {
        if (doc.Root.Element("numatune") is not { } numatune || numatune.Element("memory") is not { } memory
            || ((string?)memory.Attribute("mode"))?.Trim() != NumaMode.Restrictive.Name()) return;
        var others = numatune.Elements("memnode")
            .Select(m => (Cell: ((string?)m.Attribute("cellid"))?.Trim(),
                Mode: ((string?)m.Attribute("mode"))?.Trim() ?? NumaMode.Strict.Name()))
            .Where(m => m.Mode != NumaMode.Restrictive.Name()).ToList();
        if (others.Count == 0) return;
        var from = p.NumaTune is null
            ? "the domain's <numatune><memory mode='restrictive'> (set by no property)"
            : $"the restrictive binding of {p.NumaTuneProperty}";
        var cells = string.Join(", ", others.Select(m => $"cell {m.Cell}: {m.Mode}"));
        throw new PropertyException(
            p.GuestNuma is not null && p.NumaTune is null ? LargeguestProperties.Guestnuma : p.NumaTuneProperty,
            $"{from} would stand beside memnodes of another mode ({cells}), which libvirt refuses " +
            "(\"'restrictive' mode is required in memnode element when mode is 'restrictive' in memory element\")",
            "numatune with the guest-wide mode the cells should share, " +
            "restrictive per-cell bindings (NumaTune:DefaultMode=restrictive), " +
            "or the VM's XML without the other memnodes");
    }

    /// <summary>
    /// libvirt ignores a cpuset under <c>&lt;vcpu placement='auto'&gt;</c> (numad's choice wins): the pinning is made
    /// static, and numad's memory placement that goes with it is dropped too (docs/topology.md, "pincpu under
    /// automatic placement"), with a warning, so no request is left that libvirt ignores.
    /// </summary>
    private static void ApplyPinCpu(DomainDocument doc, CpuSet pincpu, bool numatuneSet, Action<string>? warn)
    {
        var wasAuto = VcpuEditor.ApplyStaticPlacement(doc);
        VcpuEditor.ApplyCpuSet(doc, pincpu);
        if (!wasAuto) return;
        // A numatune binding set with it replaces numad's memory placement by itself.
        var memory = !numatuneSet && NumaTuneEditor.RemoveAutoPlacement(doc)
            ? " and drops <numatune><memory placement='auto'/> (numad's memory placement, which goes with it; " +
                "memory is then the kernel's default, local to the vCPUs)"
            : "";
        warn?.Invoke($"{LargeguestProperties.Pincpu}: the domain has <vcpu placement='auto'>, " +
            "under which libvirt ignores a cpuset and lets numad choose the CPUs; " +
            $"the hook writes placement='static' so the pinning {pincpu} is applied{memory}");
    }
}
