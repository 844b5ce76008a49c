using Largeguest.Grammar;

namespace Largeguest.Domain.Editors;

/// <summary><c>&lt;vcpu cpuset&gt;</c>: the retired <c>pincpu</c> hook's default pinning for every vCPU.</summary>
public static class VcpuEditor
{
    public static void ApplyCpuSet(DomainDocument doc, CpuSet cpuset)
    {
        var vcpu = doc.Root.Element("vcpu") ?? throw new DomainXmlException("domain XML has no <vcpu> element");
        CpuTuneEditor.SetAttribute(vcpu, "cpuset", cpuset.ToString());
    }

    /// <summary>
    /// The cpuset under <c>&lt;vcpu placement='auto'&gt;</c>, which libvirt ignores (numad's choice wins): static
    /// placement instead. True when the placement was automatic and is now static.
    /// </summary>
    public static bool ApplyStaticPlacement(DomainDocument doc)
    {
        var vcpu = doc.Root.Element("vcpu") ?? throw new DomainXmlException("domain XML has no <vcpu> element");
        if (((string?)vcpu.Attribute("placement"))?.Trim() != "auto") return false;
        vcpu.SetAttributeValue("placement", "static");
        return true;
    }

    /// <summary><c>&lt;vcpu placement='auto'&gt;</c>: numad chooses the CPUs; a static cpuset would contradict
    /// it.</summary>
    public static void ApplyAutoPlacement(DomainDocument doc)
    {
        var vcpu = doc.Root.Element("vcpu") ?? throw new DomainXmlException("domain XML has no <vcpu> element");
        CpuTuneEditor.SetAttribute(vcpu, "placement", "auto");
        vcpu.Attribute("cpuset")?.Remove();
    }
}
