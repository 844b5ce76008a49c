using Largeguest.Domain.Editors;
using Largeguest.Grammar;

namespace Largeguest.Domain;

/// <summary>Checks the properties against the domain and applies each to its element family.</summary>
public static class DomainRewriter
{
    /// <param name="cellModes">Memory mode per bound guest cell when the host checks decided it (strict-memory policy); else numatune's mode or the default.</param>
    public static void Apply(DomainDocument doc, LargeguestProperties p, NumaMode defaultMode, IReadOnlyDictionary<int, NumaMode>? cellModes = null)
    {
        DomainChecks.Check(doc, p);
        if (p.PinCpu is { } pincpu) VcpuEditor.ApplyCpuSet(doc, pincpu);
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
}
