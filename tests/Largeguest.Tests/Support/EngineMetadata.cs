using System.Text;

namespace Largeguest.Tests.Support;

/// <summary>
/// Domain XML as ovirt-engine 4.5 hands it to VDSM: <c>&lt;ovirt-vm:cpuPolicy&gt;</c> (and, where the engine gives one,
/// <c>&lt;ovirt-vm:manuallyPinedCPUs&gt;</c>, VDSM's spelling) first in <c>&lt;metadata&gt;&lt;ovirt-vm:vm&gt;</c>.
/// </summary>
public static class EngineMetadata
{
    public static readonly string?[] Policies = [null, "none", "manual", "dedicated", "isolate-threads", "siblings"];

    /// <summary>The fixture with the policy inserted (null: as older engines, no cpuPolicy element).</summary>
    public static byte[] With(byte[] domain, string? cpuPolicy, string? manuallyPinned = null)
    {
        var xml = Encoding.UTF8.GetString(domain);
        const string vm = "<ovirt-vm:vm>";
        var at = xml.IndexOf(vm, StringComparison.Ordinal);
        if (at < 0) throw new ArgumentException("the fixture has no <ovirt-vm:vm> metadata block", nameof(domain));
        var inserted = (cpuPolicy is null ? "" : $"\n      <ovirt-vm:cpuPolicy>{cpuPolicy}</ovirt-vm:cpuPolicy>")
            + (manuallyPinned is null ? "" : $"\n      <ovirt-vm:manuallyPinedCPUs>{manuallyPinned}</ovirt-vm:manuallyPinedCPUs>");
        return Encoding.UTF8.GetBytes(xml.Insert(at + vm.Length, inserted));
    }
}
