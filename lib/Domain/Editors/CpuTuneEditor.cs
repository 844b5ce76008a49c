using System.Globalization;
using System.Xml.Linq;
using Largeguest.Grammar;

namespace Largeguest.Domain.Editors;

/// <summary>
/// <c>&lt;cputune&gt;</c>: sets one <c>&lt;vcpupin&gt;</c> per pinned vCPU (replacing that vCPU's old one),
/// <c>&lt;emulatorpin&gt;</c>, and one <c>&lt;iothreadpin&gt;</c> per pinned I/O thread (replacing that thread's old
/// one, placed after the emulator pin as libvirt writes them); every other child (<c>&lt;shares&gt;</c>,
/// <c>&lt;period&gt;</c>, ...) is kept.
/// </summary>
public static class CpuTuneEditor
{
    public static void Apply(DomainDocument doc, CpuTune tune)
    {
        var root = doc.Root;
        var cputune = root.Element("cputune")
            ?? XmlLayout.AddChild(root, new XElement("cputune"), root.Element("vcpu"));
        // One pass over the existing pins, then one lookup per vCPU: linear in the vCPUs, however many there are.
        var existing = cputune.Elements("vcpupin").ToLookup(e => ((string?)e.Attribute("vcpu"))?.Trim() ?? "");
        var last = cputune.Elements("vcpupin").LastOrDefault();
        foreach (var (vcpu, cpuset) in tune.PinnedVcpus.OrderBy(p => p.Vcpu))
        {
            var id = vcpu.ToString(CultureInfo.InvariantCulture);
            var pins = existing[id].ToList();
            if (pins.Count == 0)
            {
                last = XmlLayout.AddChild(cputune,
                    new XElement("vcpupin", new XAttribute("vcpu", id), new XAttribute("cpuset", cpuset)),
                    last);
                continue;
            }
            SetAttribute(pins[0], "cpuset", cpuset.ToString());
            foreach (var duplicate in pins.Skip(1)) XmlLayout.Remove(duplicate);
            if (last?.Parent is null)
                last = cputune.Elements("vcpupin").LastOrDefault(); // the last one was a duplicate
        }
        if (tune.Emulator is { } emulator)
        {
            var pin = cputune.Element("emulatorpin")
                ?? XmlLayout.AddChild(cputune, new XElement("emulatorpin"),
                    cputune.Elements("vcpupin").LastOrDefault());
            SetAttribute(pin, "cpuset", emulator.ToString());
        }
        if (tune.IoThreads.Count > 0) ApplyIoThreads(cputune, tune.IoThreads);
    }

    private static void ApplyIoThreads(XElement cputune, IReadOnlyList<IoThreadPin> ioThreads)
    {
        var existing = cputune.Elements("iothreadpin").ToLookup(e => ((string?)e.Attribute("iothread"))?.Trim() ?? "");
        XElement? Last() => cputune.Elements("iothreadpin").LastOrDefault() ?? cputune.Element("emulatorpin")
            ?? cputune.Elements("vcpupin").LastOrDefault();
        // Found once and then carried: a new pin is the last one (finding it anew per pin is quadratic in the pins).
        var last = Last();
        foreach (var pin in ioThreads.OrderBy(p => p.Id))
        {
            var id = pin.Id.ToString(CultureInfo.InvariantCulture);
            var pins = existing[id].ToList();
            if (pins.Count == 0)
            {
                last = XmlLayout.AddChild(cputune,
                    new XElement("iothreadpin", new XAttribute("iothread", id), new XAttribute("cpuset", pin.CpuSet)),
                    last);
                continue;
            }
            SetAttribute(pins[0], "cpuset", pin.CpuSet.ToString());
            foreach (var duplicate in pins.Skip(1)) XmlLayout.Remove(duplicate);
            if (last?.Parent is null) last = Last(); // the last one was a duplicate
        }
    }

    /// <summary>Writes the attribute only when its value changes, so an unchanged value keeps its spelling.</summary>
    internal static void SetAttribute(XElement element, string name, string value)
    {
        if ((string?)element.Attribute(name) != value) element.SetAttributeValue(name, value);
    }
}
