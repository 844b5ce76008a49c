using System.Security;
using System.Text;

namespace Largeguest.Tests.Support;

/// <summary>
/// An oVirt 4.5 engine-shaped domain as VDSM hands it to hooks: 16 vCPUs (8 plugged), 16 GiB, the engine's
/// one-cell <c>&lt;cpu&gt;&lt;numa&gt;</c> for hot-plug, and the engine's <c>&lt;metadata&gt;</c>:
/// <c>&lt;ovirt-vm:vm&gt;</c> declaring its
/// namespace, the custom properties under <c>&lt;ovirt-vm:custom&gt;</c> (where VDSM reads <c>vmconf['custom']</c>
/// from), and <c>&lt;ovirt-vm:cpuPolicy&gt;</c> (absent, or one of <see cref="CpuPolicies"/>) with an optional
/// <c>&lt;ovirt-vm:manuallyPinedCPUs&gt;</c> (VDSM's spelling). With the engine's "Manual" policy the engine writes
/// its own <c>&lt;vcpupin&gt;</c> elements (<c>enginePins</c>). It fits <see cref="SampleHost"/> (32 CPUs, 2 nodes).
/// </summary>
public static class EngineDomain
{
    public const string VmId = "7a1c9e4b-2d3f-4e5a-8b6c-0d1e2f3a4b5c";

    /// <summary>The engine's values of <c>cpuPolicy</c> (ovirt-engine VmInfoBuildUtils.getVdsmCpuPinningPolicy; VDSM
    /// cpumanagement.CPU_POLICY_*).</summary>
    public static readonly string[] CpuPolicies = ["none", "manual", "dedicated", "isolate-threads", "siblings"];

    /// <summary>The domain with these custom properties in its metadata and the given CPU policy (null: no
    /// <c>cpuPolicy</c> element, as older engines).</summary>
    public static string Xml(IReadOnlyDictionary<string, string> custom, string? cpuPolicy = null,
        string? manuallyPinnedCpus = null,
        IReadOnlyList<(int Vcpu, string CpuSet)>? enginePins = null) =>
        WithCpuPolicy(Base(custom, enginePins), cpuPolicy, manuallyPinnedCpus);

    /// <summary>
    /// Adds the policy elements to a document made by <see cref="Xml"/> without them, or to the hook's rewrite of
    /// one (the hook leaves the metadata alone): the rewrite of the policy-less domain with the policy added is
    /// what the hook must write for the domain with the policy when it accepts the request.
    /// </summary>
    public static string WithCpuPolicy(string xml, string? cpuPolicy, string? manuallyPinnedCpus = null)
    {
        var lines = new StringBuilder();
        if (cpuPolicy is not null) lines.Append($"      <ovirt-vm:cpuPolicy>{cpuPolicy}</ovirt-vm:cpuPolicy>\n");
        if (manuallyPinnedCpus is not null)
            lines.Append($"      <ovirt-vm:manuallyPinedCPUs>{manuallyPinnedCpus}</ovirt-vm:manuallyPinedCPUs>\n");
        const string anchor = "      <ovirt-vm:resumeBehavior>auto_resume</ovirt-vm:resumeBehavior>\n";
        var at = xml.IndexOf(anchor, StringComparison.Ordinal);
        if (at < 0 || xml.Contains("<ovirt-vm:cpuPolicy>", StringComparison.Ordinal))
            throw new ArgumentException("not an EngineDomain document without a cpuPolicy", nameof(xml));
        return xml.Insert(at + anchor.Length, lines.ToString());
    }

    private static string Base(IReadOnlyDictionary<string, string> custom, IReadOnlyList<(int Vcpu,
        string CpuSet)>? enginePins)
    {
        var cputune = enginePins is { Count: > 0 }
            ? "  <cputune>\n" + string.Concat(enginePins
                .Select(p => $"    <vcpupin cpuset=\"{p.CpuSet}\" vcpu=\"{p.Vcpu}\" />\n")) + "  </cputune>\n"
            : "";
        var properties = custom.Count == 0 ? "" :
            "      <ovirt-vm:custom>\n" +
            string.Concat(custom.Select(p => $"        <ovirt-vm:{p.Key}>{SecurityElement.Escape(p.Value)}" +
                $"</ovirt-vm:{p.Key}>\n")) +
            "      </ovirt-vm:custom>\n";
        return $"""
            <?xml version='1.0' encoding='utf-8'?>
            <domain type="kvm">
              <name>erp01</name>
              <uuid>{VmId}</uuid>
              <memory>16777216</memory>
              <currentMemory>16777216</currentMemory>
              <iothreads>1</iothreads>
              <maxMemory slots="16">67108864</maxMemory>
              <vcpu current="8">16</vcpu>
              <sysinfo type="smbios">
                <system>
                  <entry name="manufacturer">oVirt</entry>
                  <entry name="product">RHEL</entry>
                  <entry name="version">9-4.el9</entry>
                  <entry name="serial">30393036-3539-5a43-3332-313142363350</entry>
                  <entry name="uuid">{VmId}</entry>
                  <entry name="family">oVirt</entry>
                </system>
              </sysinfo>
              <clock adjustment="0" offset="variable">
                <timer name="rtc" tickpolicy="catchup" />
                <timer name="pit" tickpolicy="delay" />
                <timer name="hpet" present="no" />
              </clock>
              <features>
                <acpi />
              </features>
              <cpu match="exact">
                <model>Skylake-Server-noTSX-IBRS</model>
                <topology cores="4" sockets="2" threads="2" />
                <numa>
                  <cell cpus="0-15" id="0" memory="16777216" />
                </numa>
              </cpu>

            """ + cputune + """
              <metadata>
                <ovirt-tune:qos xmlns:ovirt-tune="http://ovirt.org/vm/tune/1.0" />
                <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
                  <ovirt-vm:balloonTarget type="int">16777216</ovirt-vm:balloonTarget>
                  <ovirt-vm:ballooningEnabled>true</ovirt-vm:ballooningEnabled>
                  <ovirt-vm:clusterVersion>4.7</ovirt-vm:clusterVersion>
                  <ovirt-vm:destroy_on_reboot type="bool">False</ovirt-vm:destroy_on_reboot>
                  <ovirt-vm:launchPaused>false</ovirt-vm:launchPaused>
                  <ovirt-vm:memGuaranteedSize type="int">16384</ovirt-vm:memGuaranteedSize>
                  <ovirt-vm:minGuaranteedMemoryMb type="int">16384</ovirt-vm:minGuaranteedMemoryMb>
                  <ovirt-vm:resumeBehavior>auto_resume</ovirt-vm:resumeBehavior>

            """ + properties + """
                  <ovirt-vm:device devtype="disk" name="sda">
                    <ovirt-vm:domainID>6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f</ovirt-vm:domainID>
                    <ovirt-vm:imageID>1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9</ovirt-vm:imageID>
                    <ovirt-vm:poolID>0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0</ovirt-vm:poolID>
                    <ovirt-vm:volumeID>9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4</ovirt-vm:volumeID>
                  </ovirt-vm:device>
                </ovirt-vm:vm>
              </metadata>
              <os>
                <type arch="x86_64" machine="pc-q35-rhel8.6.0">hvm</type>
                <smbios mode="sysinfo" />
              </os>
              <on_poweroff>destroy</on_poweroff>
              <on_crash>destroy</on_crash>
              <devices>
                <emulator>/usr/libexec/qemu-kvm</emulator>
                <disk device="disk" snapshot="no" type="file">
                  <driver cache="none" error_policy="stop" io="threads" name="qemu" type="qcow2" />
                  <source file="/rhev/data-center/mnt/nfs01:_exports_data/6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f/images/1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9/9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4" />
                  <target bus="scsi" dev="sda" />
                  <serial>1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9</serial>
                  <boot order="1" />
                  <alias name="ua-1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9" />
                </disk>
                <interface type="bridge">
                  <mac address="56:6f:3a:b2:00:21" />
                  <source bridge="ovirtmgmt" />
                  <model type="virtio" />
                  <alias name="ua-5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e" />
                </interface>
                <memballoon model="virtio">
                  <stats period="5" />
                  <alias name="ua-2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f" />
                </memballoon>
              </devices>
            </domain>

            """;
    }
}
