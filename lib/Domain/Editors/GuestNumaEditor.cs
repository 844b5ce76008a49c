using System.Globalization;
using System.Xml.Linq;
using Largeguest.Grammar;

namespace Largeguest.Domain.Editors;

/// <summary>
/// <c>&lt;cpu&gt;&lt;numa&gt;</c>: the guest's virtual NUMA cells. Any existing <c>&lt;numa&gt;</c> is replaced;
/// the rest of <c>&lt;cpu&gt;</c> (model, topology, features) is kept, and so are the old cells' attributes and
/// children where they still apply (<see cref="Carried"/>).
/// </summary>
public static class GuestNumaEditor
{
    /// <summary>Cell attributes that describe how the guest's memory is backed, not where the cell is.</summary>
    private static readonly string[] CellAttributes = ["memAccess", "discard"];

    /// <summary>
    /// What the new cells keep from the old <c>&lt;numa&gt;</c> (docs/topology.md, "Cell attributes kept"): an
    /// attribute the same on every old cell (the engine writes <c>memAccess='shared'</c> on all cells of a vhost-user
    /// VM) goes to every new cell; per-cell values, per-cell children (<c>&lt;distances&gt;</c>, <c>&lt;cache&gt;</c>)
    /// and <c>&lt;interconnects&gt;</c> describe particular cells and are kept only when the cell count is unchanged.
    /// Otherwise throws, naming what would be lost and why. <paramref name="kept"/>: the old <c>&lt;numa&gt;</c>'s
    /// children other than cells, which go to the new one (none unless the count is unchanged).
    /// </summary>
    public static Func<int, XElement, XElement> Carried(XElement? oldNuma, int newCount,
        out IReadOnlyList<XElement> kept)
    {
        // Plain loops: the LINQ of this check cost each hook run ~0.1 ms of generic method lookups (make bench).
        var old = new List<XElement>();
        var others = new List<XElement>();
        var children = new List<string>();
        foreach (var e in oldNuma?.Elements() ?? [])
        {
            if (e.Name != "cell") { others.Add(e); continue; }
            old.Add(e);
            foreach (var child in e.Elements())
                if (!children.Contains(child.Name.LocalName)) children.Add(child.Name.LocalName);
        }
        kept = [];
        if (old.Count == 0) return (_, cell) => cell;
        var same = old.Count == newCount;
        var shared = new List<XAttribute>();
        foreach (var name in CellAttributes)
        {
            var first = (string?)old[0].Attribute(name);
            if (old.TrueForAll(c => (string?)c.Attribute(name) == first))
            {
                if (first is not null) shared.Add(new XAttribute(name, first));
            }
            else if (!same)
                Refuse($"the old cells differ in {name} (" +
                    $"{string.Join(", ", old.Select((c, i) => $"cell {i}: {(string?)c.Attribute(name) ?? "unset"}"))}" +
                    ")");
        }
        if (!same && children.Count > 0)
            Refuse($"the old cells have <{string.Join(">, <", children)}>, which describe particular cells");
        if (!same && others.Count > 0)
            Refuse($"the old <numa> has <{string.Join(">, <", others.Select(e => e.Name.LocalName).Distinct())}>, " +
                "which describes particular cells");
        if (same) kept = others;
        return (id, cell) =>
        {
            foreach (var a in shared) cell.SetAttributeValue(a.Name, a.Value);
            if (!same) return cell;
            foreach (var name in CellAttributes)
                if (old[id].Attribute(name) is { } a && cell.Attribute(name) is null)
                    cell.SetAttributeValue(name, a.Value);
            if (old[id].HasElements) cell.Add(old[id].Nodes()); // parented nodes are cloned, with their indentation
            return cell;
        };

        void Refuse(string what) => throw new PropertyException(LargeguestProperties.Guestnuma,
            $"{what}, and the domain's {old.Count} cells become {newCount}: " +
            "there is no telling which new cell they belong to",
            $"{old.Count} cells (then each keeps its own), or remove them from the VM's XML first");
    }

    public static void Apply(DomainDocument doc, GuestNuma numa)
    {
        var root = doc.Root;
        var cpu = root.Element("cpu")
            ?? XmlLayout.AddChild(root, new XElement("cpu"),
                root.Element("numatune") ?? root.Element("cputune") ?? root.Element("vcpu"));
        var old = cpu.Element("numa");
        var carry = Carried(old, numa.Cells.Count, out var kept);
        var element = new XElement("numa");
        if (old is not null) old.ReplaceWith(element);
        else XmlLayout.AddChild(cpu, element);
        XElement? last = null; // passed on: finding the last child anew for each cell is quadratic in the cells
        for (var id = 0; id < numa.Cells.Count; id++)
        {
            var cell = numa.Cells[id];
            last = XmlLayout.AddChild(element, carry(id, new XElement("cell",
                new XAttribute("id", id.ToString(CultureInfo.InvariantCulture)),
                new XAttribute("cpus", cell.Vcpus.ToString()),
                new XAttribute("memory", cell.Memory.KiB.ToString(CultureInfo.InvariantCulture)),
                new XAttribute("unit", "KiB"))), last);
        }
        foreach (var other in kept) XmlLayout.AddChild(element, new XElement(other));
    }
}
