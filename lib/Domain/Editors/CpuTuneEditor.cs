using System.Globalization;
using System.Xml.Linq;
using Largeguest.Grammar;

namespace Largeguest.Domain.Editors;

/// <summary>
/// <c>&lt;cputune&gt;</c>: sets one <c>&lt;vcpupin&gt;</c> per pinned vCPU (replacing that vCPU's old one)
/// and <c>&lt;emulatorpin&gt;</c>; every other child (<c>&lt;shares&gt;</c>, <c>&lt;period&gt;</c>, ...) is kept.
/// </summary>
public static class CpuTuneEditor
{
    public static void Apply(DomainDocument doc, CpuTune tune)
    {
        var root = doc.Root;
        var cputune = root.Element("cputune") ?? XmlLayout.AddChild(root, new XElement("cputune"), root.Element("vcpu"));
        foreach (var (vcpu, cpuset) in tune.PinnedVcpus.OrderBy(p => p.Vcpu))
        {
            var id = vcpu.ToString(CultureInfo.InvariantCulture);
            var existing = cputune.Elements("vcpupin").Where(e => ((string?)e.Attribute("vcpu"))?.Trim() == id).ToList();
            if (existing.Count == 0)
            {
                XmlLayout.AddChild(cputune, new XElement("vcpupin", new XAttribute("vcpu", id), new XAttribute("cpuset", cpuset)),
                    cputune.Elements("vcpupin").LastOrDefault());
                continue;
            }
            SetAttribute(existing[0], "cpuset", cpuset.ToString());
            foreach (var duplicate in existing.Skip(1)) XmlLayout.Remove(duplicate);
        }
        if (tune.Emulator is { } emulator)
        {
            var pin = cputune.Element("emulatorpin")
                ?? XmlLayout.AddChild(cputune, new XElement("emulatorpin"), cputune.Elements("vcpupin").LastOrDefault());
            SetAttribute(pin, "cpuset", emulator.ToString());
        }
    }

    /// <summary>Writes the attribute only when its value changes, so an unchanged value keeps its spelling.</summary>
    internal static void SetAttribute(XElement element, string name, string value)
    {
        if ((string?)element.Attribute(name) != value) element.SetAttributeValue(name, value);
    }
}
