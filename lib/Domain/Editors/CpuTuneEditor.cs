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
        // One pass over the existing pins, then one lookup per vCPU: linear in the vCPUs, however many there are.
        var existing = cputune.Elements("vcpupin").ToLookup(e => ((string?)e.Attribute("vcpu"))?.Trim() ?? "");
        var last = cputune.Elements("vcpupin").LastOrDefault();
        foreach (var (vcpu, cpuset) in tune.PinnedVcpus.OrderBy(p => p.Vcpu))
        {
            var id = vcpu.ToString(CultureInfo.InvariantCulture);
            var pins = existing[id].ToList();
            if (pins.Count == 0)
            {
                last = XmlLayout.AddChild(cputune, new XElement("vcpupin", new XAttribute("vcpu", id), new XAttribute("cpuset", cpuset)),
                    last);
                continue;
            }
            SetAttribute(pins[0], "cpuset", cpuset.ToString());
            foreach (var duplicate in pins.Skip(1)) XmlLayout.Remove(duplicate);
            if (last?.Parent is null) last = cputune.Elements("vcpupin").LastOrDefault(); // the last one was a duplicate
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
