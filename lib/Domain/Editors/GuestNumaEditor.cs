using System.Globalization;
using System.Xml.Linq;
using Largeguest.Grammar;

namespace Largeguest.Domain.Editors;

/// <summary>
/// <c>&lt;cpu&gt;&lt;numa&gt;</c>: the guest's virtual NUMA cells. Any existing <c>&lt;numa&gt;</c> is replaced;
/// the rest of <c>&lt;cpu&gt;</c> (model, topology, features) is kept.
/// </summary>
public static class GuestNumaEditor
{
    public static void Apply(DomainDocument doc, GuestNuma numa)
    {
        var root = doc.Root;
        var cpu = root.Element("cpu")
            ?? XmlLayout.AddChild(root, new XElement("cpu"), root.Element("numatune") ?? root.Element("cputune") ?? root.Element("vcpu"));
        var element = new XElement("numa");
        if (cpu.Element("numa") is { } old) old.ReplaceWith(element);
        else XmlLayout.AddChild(cpu, element);
        for (var id = 0; id < numa.Cells.Count; id++)
        {
            var cell = numa.Cells[id];
            XmlLayout.AddChild(element, new XElement("cell",
                new XAttribute("id", id.ToString(CultureInfo.InvariantCulture)),
                new XAttribute("cpus", cell.Vcpus.ToString()),
                new XAttribute("memory", cell.Memory.KiB.ToString(CultureInfo.InvariantCulture)),
                new XAttribute("unit", "KiB")));
        }
    }
}
