using Largeguest.Domain.Editors;
using Largeguest.Grammar;

namespace Largeguest.Domain;

/// <summary>Checks the properties against the domain and applies each to its element family.</summary>
public static class DomainRewriter
{
    /// <param name="cellModes">Memory mode per bound guest cell when the host checks decided it (strict-memory policy); else numatune's mode or the default.</param>
    /// <param name="warn">Where the rewrite says what it changed beyond the request (pincpu under automatic placement).</param>
    public static void Apply(DomainDocument doc, LargeguestProperties p, NumaMode defaultMode, IReadOnlyDictionary<int, NumaMode>? cellModes = null,
        Action<string>? warn = null)
    {
        DomainChecks.Check(doc, p);
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
            var memNodes = numa.Cells
                .Select((cell, id) => cell.HostNodes is { } nodes ? new MemNode(id, cellModes?.GetValueOrDefault(id, mode) ?? mode, nodes) : null)
                .OfType<MemNode>().ToList();
            NumaTuneEditor.ApplyMemNodes(doc, memNodes, numa.Cells.Count);
        }
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
            ? " and drops <numatune><memory placement='auto'/> (numad's memory placement, which goes with it; memory is then the kernel's default, local to the vCPUs)"
            : "";
        warn?.Invoke($"{LargeguestProperties.Pincpu}: the domain has <vcpu placement='auto'>, under which libvirt ignores a cpuset and lets numad choose the CPUs; " +
            $"the hook writes placement='static' so the pinning {pincpu} is applied{memory}");
    }
}
