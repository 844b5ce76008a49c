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
        var existing = PinsBy(cputune, "vcpupin", "vcpu");
        var last = XmlLayout.LastElement(cputune, "vcpupin");
        foreach (var (vcpu, cpuset) in tune.PinnedVcpus)
        {
            var id = vcpu.ToString(CultureInfo.InvariantCulture);
            if (!existing.TryGetValue(id, out var pins))
            {
                last = XmlLayout.AddChild(cputune,
                    new XElement("vcpupin", new XAttribute("vcpu", id), new XAttribute("cpuset", cpuset)),
                    last);
                continue;
            }
            SetAttribute(pins[0], "cpuset", cpuset.ToString());
            for (var i = 1; i < pins.Count; i++) XmlLayout.Remove(pins[i]);
            if (last?.Parent is null) last = XmlLayout.LastElement(cputune, "vcpupin"); // the last one was a duplicate
        }
        if (tune.Emulator is { } emulator)
        {
            var pin = cputune.Element("emulatorpin")
                ?? XmlLayout.AddChild(cputune, new XElement("emulatorpin"), XmlLayout.LastElement(cputune, "vcpupin"));
            SetAttribute(pin, "cpuset", emulator.ToString());
        }
        if (tune.IoThreads.Count > 0) ApplyIoThreads(cputune, tune.IoThreads);
    }

    private static void ApplyIoThreads(XElement cputune, IReadOnlyList<IoThreadPin> ioThreads)
    {
        var existing = PinsBy(cputune, "iothreadpin", "iothread");
        XElement? Last() => XmlLayout.LastElement(cputune, "iothreadpin") ?? cputune.Element("emulatorpin")
            ?? XmlLayout.LastElement(cputune, "vcpupin");
        // Found once and then carried: a new pin is the last one (finding it anew per pin is quadratic in the pins).
        var last = Last();
        var sorted = new List<IoThreadPin>(ioThreads);
        sorted.Sort((a, b) => a.Id.CompareTo(b.Id)); // unique ids: the order is total
        foreach (var pin in sorted)
        {
            var id = pin.Id.ToString(CultureInfo.InvariantCulture);
            if (!existing.TryGetValue(id, out var pins))
            {
                last = XmlLayout.AddChild(cputune,
                    new XElement("iothreadpin", new XAttribute("iothread", id), new XAttribute("cpuset", pin.CpuSet)),
                    last);
                continue;
            }
            SetAttribute(pins[0], "cpuset", pin.CpuSet.ToString());
            for (var i = 1; i < pins.Count; i++) XmlLayout.Remove(pins[i]);
            if (last?.Parent is null) last = Last(); // the last one was a duplicate
        }
    }

    /// <summary>The <paramref name="name"/> children by their <paramref name="key"/> attribute (trimmed), each key's
    /// elements in document order.</summary>
    private static Dictionary<string, List<XElement>> PinsBy(XElement cputune, string name, string key)
    {
        var pins = new Dictionary<string, List<XElement>>(StringComparer.Ordinal);
        foreach (var pin in cputune.Elements(name))
        {
            var id = ((string?)pin.Attribute(key))?.Trim() ?? "";
            if (pins.TryGetValue(id, out var same)) same.Add(pin);
            else pins[id] = [pin];
        }
        return pins;
    }

    /// <summary>Writes the attribute only when its value changes, so an unchanged value keeps its spelling.</summary>
    internal static void SetAttribute(XElement element, string name, string value)
    {
        if ((string?)element.Attribute(name) != value) element.SetAttributeValue(name, value);
    }
}
