using System.Text;

namespace Largeguest.Tests.Support;

/// <summary>
/// A large VDSM-style domain (many vCPUs and cells, old pinning to replace, many disks with oVirt
/// metadata) and properties that fit it; the same shape as bench/bench.py's (b) workload.
/// </summary>
public static class LargeDomain
{
    public static byte[] Xml(int vcpus = 512, int cells = 64, int targetBytes = 1 << 20)
    {
        const long cellKiB = 4L * 1024 * 1024;
        var per = vcpus / cells;
        var sb = new StringBuilder(targetBytes + 64 * 1024);
        sb.Append("<?xml version='1.0' encoding='utf-8'?>\n")
          .Append("<domain xmlns:ovirt-tune=\"http://ovirt.org/vm/tune/1.0\" " +
              "xmlns:ovirt-vm=\"http://ovirt.org/vm/1.0\" type=\"kvm\">\n")
          .Append("  <name>large01</name>\n  <uuid>6b1d9a2e-0c4f-4e7a-9b3d-2f8e1a6c5d40</uuid>\n")
          .Append($"  <memory>{cells * cellKiB}</memory>\n  <currentMemory>{cells * cellKiB}</currentMemory>\n")
          .Append($"  <maxMemory slots=\"16\">{2 * cells * cellKiB}</maxMemory>\n  <vcpu " +
              $"current=\"{vcpus / 2}\">{vcpus}</vcpu>\n")
          .Append($"  <cpu match=\"exact\">\n    <model>Skylake-Server-noTSX-IBRS</model>\n    <topology " +
              $"cores=\"{per / 2}\" sockets=\"{cells}\" threads=\"2\" />\n    <numa>\n");
        for (var c = 0; c < cells; c++) sb.Append($"      <cell cpus=\"{c * per}-{c * per + per - 1}\" id=\"{c}\" " +
            $"memory=\"{cellKiB}\" />\n");
        sb.Append("    </numa>\n  </cpu>\n  <cputune>\n    <shares>8192</shares>\n");
        for (var v = 0; v < vcpus; v++) sb.Append($"    <vcpupin cpuset=\"{v % 64}\" vcpu=\"{v}\" />\n");
        sb.Append("  </cputune>\n  <devices>\n    <emulator>/usr/libexec/qemu-kvm</emulator>\n");
        var meta = new StringBuilder();
        for (var n = 0; sb.Length + meta.Length < targetBytes - 200; n++)
        {
            var uid = $"{n:x8}-1a2b-4c3d-8e4f-{n:x12}";
            sb.Append($"    <disk device=\"disk\" snapshot=\"no\" type=\"block\">\n      <target bus=\"scsi\" " +
                $"dev=\"sd{n}\" />\n")
              .Append($"      <source dev=\"/rhev/data-center/mnt/blockSD/3c2b1a0f/images/{uid}/{uid}\">\n        " +
                  $"<seclabel model=\"dac\" relabel=\"no\" />\n      </source>\n")
              .Append("      <driver cache=\"none\" error_policy=\"stop\" io=\"native\" name=\"qemu\" " +
                  "type=\"raw\" />\n")
              .Append($"      <alias name=\"ua-{uid}\" />\n      <address bus=\"0\" controller=\"0\" target=\"0\" " +
                  $"type=\"drive\" unit=\"{n}\" />\n")
              .Append($"      <serial>{uid}</serial>\n    </disk>\n");
            meta.Append($"      <ovirt-vm:device devtype=\"disk\" name=\"sd{n}\">\n        " +
                $"<ovirt-vm:imageID>{uid}</ovirt-vm:imageID>\n")
                .Append($"        <ovirt-vm:volumeID>{uid}</ovirt-vm:volumeID>\n      </ovirt-vm:device>\n");
        }
        sb.Append("  </devices>\n  <metadata>\n    <ovirt-tune:qos />\n    <ovirt-vm:vm>\n").Append(meta)
          .Append("    </ovirt-vm:vm>\n  </metadata>\n</domain>\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>cputune, numatune and guestnuma for <see cref="Xml"/>, binding to CPU 0-1 and node 0 only.</summary>
    public static Dictionary<string, string> Properties(int vcpus = 512, int cells = 64)
    {
        var per = vcpus / cells;
        return new Dictionary<string, string>
        {
            ["cputune"] = string.Join(",", Enumerable.Range(0, cells)
                .Select(c => $"{c * per}-{c * per + per - 1}#{c % 2}")) + ",emulator#0-1",
            ["numatune"] = "strict#0",
            ["guestnuma"] = string.Join(",", Enumerable.Range(0, cells)
                .Select(c => $"{c * per}-{c * per + per - 1}#4G#0")),
        };
    }
}
