using System.Globalization;
using System.Xml.Linq;
using Largeguest.Grammar;

namespace Largeguest.Domain.Editors;

/// <summary>A per-guest-cell host binding: <c>&lt;memnode cellid mode nodeset/&gt;</c>.</summary>
public sealed record MemNode(int CellId, NumaMode Mode, CpuSet NodeSet);

/// <summary><c>&lt;numatune&gt;</c>: the guest-wide <c>&lt;memory&gt;</c> binding and per-cell
/// <c>&lt;memnode&gt;</c>s.</summary>
public static class NumaTuneEditor
{
    public static void ApplyMemory(DomainDocument doc, NumaTune tune)
    {
        var memory = Memory(doc);
        CpuTuneEditor.SetAttribute(memory, "mode", tune.Mode.Name());
        CpuTuneEditor.SetAttribute(memory, "nodeset", tune.NodeSet.ToString());
        memory.Attribute("placement")?.Remove();
    }

    /// <summary>
    /// <c>&lt;memory mode='strict' placement='auto'/&gt;</c>: numad chooses the nodes. A nodeset and per-cell
    /// <c>&lt;memnode&gt;</c>s contradict automatic placement (libvirt refuses them), so they go.
    /// </summary>
    public static void ApplyAutoPlacement(DomainDocument doc)
    {
        var memory = Memory(doc);
        CpuTuneEditor.SetAttribute(memory, "mode", NumaMode.Strict.Name());
        CpuTuneEditor.SetAttribute(memory, "placement", "auto");
        memory.Attribute("nodeset")?.Remove();
        foreach (var memnode in new List<XElement>(memory.Parent!.Elements("memnode"))) XmlLayout.Remove(memnode);
    }

    /// <summary>
    /// Drops numad's memory placement (<c>&lt;memory placement='auto'/&gt;</c>, and <c>&lt;numatune&gt;</c> once
    /// empty), which goes with the automatic vCPU placement static pinning replaces. True when there was one.
    /// </summary>
    public static bool RemoveAutoPlacement(DomainDocument doc)
    {
        if (doc.Root.Element("numatune") is not { } numatune
            || numatune.Element("memory") is not { } memory
            || ((string?)memory.Attribute("placement"))?.Trim() != "auto") return false;
        XmlLayout.Remove(memory);
        if (!numatune.HasElements) XmlLayout.Remove(numatune);
        return true;
    }

    /// <summary>Sets the given memnodes and drops those whose cell no longer exists (cell id ≥
    /// <paramref name="cellCount"/>).</summary>
    public static void ApplyMemNodes(DomainDocument doc, IReadOnlyList<MemNode> memNodes, int cellCount)
    {
        var numatune = doc.Root.Element("numatune");
        if (numatune is null && memNodes.Count == 0) return;
        numatune ??= NumaTune(doc);
        var stale = new List<XElement>();
        foreach (var e in numatune.Elements("memnode"))
            if (CellId(e) is not int id || id >= cellCount) stale.Add(e);
        foreach (var e in stale) XmlLayout.Remove(e);
        // Each memnode goes to the cell's first memnode, or a new one after the last memnode (in document order) of a
        // lower cell, else after <memory>. The memnodes come by cell id, so that last one only moves forward: one pass
        // over the old memnodes sorted by id, not a scan of all of them per cell (8192 cells took 20 s).
        var old = new List<(XElement Element, int Id, int Index)>();
        foreach (var e in numatune.Elements("memnode")) old.Add((e, CellId(e)!.Value, old.Count));
        var firstOf = new Dictionary<int, XElement>();
        foreach (var o in old) firstOf.TryAdd(o.Id, o.Element);
        var byId = new List<(XElement Element, int Id, int Index)>(old);
        // Equal ids stay in document order.
        byId.Sort((a, b) => a.Id != b.Id ? a.Id.CompareTo(b.Id) : a.Index.CompareTo(b.Index));
        var memory = numatune.Element("memory");
        // Positions: an old memnode's index, or an inserted one's (index of the old memnode it follows, sequence).
        var afterMemory = old.Count - 1;
        if (memory is not null)
        {
            afterMemory = -1; // the memnodes before <memory>, less one
            foreach (var e in numatune.Elements())
            {
                if (e == memory) break;
                if (e.Name == "memnode") afterMemory++;
            }
        }
        XElement? last = null;
        (int Index, int Seq) lastAt = (-1, 0);
        int entered = 0, seq = 0;
        foreach (var m in memNodes)
        {
            for (; entered < byId.Count && byId[entered].Id < m.CellId; entered++)
                if ((byId[entered].Index, 0).CompareTo(lastAt) > 0)
                    (last, lastAt) = (byId[entered].Element, (byId[entered].Index, 0));
            if (!firstOf.TryGetValue(m.CellId, out var element))
            {
                element = XmlLayout.AddChild(numatune,
                    new XElement("memnode", new XAttribute("cellid", m.CellId.ToString(CultureInfo.InvariantCulture))),
                    last ?? memory);
                (last, lastAt) = (element, (last is null ? afterMemory : lastAt.Index, ++seq));
            }
            CpuTuneEditor.SetAttribute(element, "mode", m.Mode.Name());
            CpuTuneEditor.SetAttribute(element, "nodeset", m.NodeSet.ToString());
        }
    }

    private static int? CellId(XElement memnode) =>
        int.TryParse(((string?)memnode.Attribute("cellid"))?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture,
            out var id) ? id : null;

    private static XElement NumaTune(DomainDocument doc)
    {
        var root = doc.Root;
        return root.Element("numatune")
            ?? XmlLayout.AddChild(root, new XElement("numatune"), root.Element("cputune") ?? root.Element("vcpu"));
    }

    private static XElement Memory(DomainDocument doc)
    {
        var numatune = NumaTune(doc);
        return numatune.Element("memory") ?? XmlLayout.AddFirstChild(numatune, new XElement("memory"));
    }
}
