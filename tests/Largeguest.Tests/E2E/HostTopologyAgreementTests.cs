using System.Globalization;
using Largeguest.Grammar;
using Largeguest.Host;
using Largeguest.Tests.Host;
using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.E2E;

/// <summary>
/// This machine's topology read twice: through our libvirt binding against the private libvirtd's QEMU driver
/// (capabilities + cells free memory, <see cref="LibvirtTopologyReader"/>) and through
/// <see cref="SysfsTopologyReader"/>
/// on /sys. The two models must agree on everything both sources know. Then the published hook is run with
/// <c>Topology:Source=libvirt</c> against the same daemon, so the hook's libvirt path is proven on a real
/// QEMU-driver libvirtd and not only on <c>test:///default</c>. In the e2e collection: when the private
/// libvirtd cannot run, these tests fail with the fixture's reason like every other end-to-end test.
/// </summary>
[Collection(E2ECollection.Name)]
public sealed class HostTopologyAgreementTests(PrivateLibvirt libvirt, ITestOutputHelper output)
{
    private const string SysfsRoot = "/sys";

    [Fact]
    public void Libvirt_and_sysfs_models_of_this_host_agree()
    {
        LibvirtBindingTests.RequireLibvirt();
        // sysfs read before and after libvirt: page pool counts may only differ from libvirt's when the host
        // changed between the reads (then both sysfs reads differ too); everything else is static.
        var sysfs = SysfsTopologyReader.Read(SysfsRoot);
        var virt = LibvirtTopologyReader.Read(libvirt.Uri);
        var sysfsAfter = SysfsTopologyReader.Read(SysfsRoot);
        output.WriteLine($"libvirt source: {virt.Source}");
        virt.Source.Should().Be($"libvirt {libvirt.Uri}", "the model must come from the private daemon's QEMU driver");

        var checks = new E2EChecks("host topology sysfs vs libvirt", output.WriteLine);
        // expected = what sysfs says, actual = what libvirt says
        checks.Equal(sysfs.NodeIds, virt.NodeIds, "node ids (sysfs vs libvirt)");
        checks.Equal(sysfs.NodeIdsWithMemory, virt.NodeIdsWithMemory, "nodes with memory (sysfs vs libvirt)");
        checks.Equal(sysfs.CpuIds, virt.CpuIds, "host CPUs (sysfs vs libvirt)");
        checks.Equal(sysfs.OnlineCpuIds, virt.OnlineCpuIds, "online CPUs (sysfs vs libvirt)");
        // Cross-check both against the kernel's own summary files, so that a bug shared by both readers shows too.
        checks.Equal(libvirt.Host.OnlineCpus.ToString(), sysfs.OnlineCpuIds, "online CPUs: " +
            "/sys/devices/system/cpu/online vs sysfs reader");
        checks.Equal(libvirt.Host.MemoryNodes.ToString(), sysfs.NodeIdsWithMemory, "nodes with memory: " +
            "/sys/devices/system/node/has_memory vs sysfs reader");

        int cpusCompared = 0, diesCompared = 0, pagePools = 0;
        foreach (var node in sysfs.Nodes)
        {
            var n = $"node {node.Id}";
            if (virt.Node(node.Id) is not { } other)
            {
                checks.True(false, $"{n}: libvirt has the node", $"libvirt nodes {virt.NodeIds}");
                continue;
            }
            checks.Equal(HostTopology.Describe(node.Cpus.Select(c => c.Id)), HostTopology.Describe(other.Cpus
                .Select(c => c.Id)), $"{n}: CPU set");
            checks.Equal(HostTopology.Describe(node.OnlineCpus
                .Select(c => c.Id)), HostTopology.Describe(other.OnlineCpus.Select(c => c.Id)), $"{n}: online CPUs");
            // Exact, no tolerance: libvirt's cell <memory> is libnuma's numa_node_size64(), which parses the same
            // /sys/devices/system/node/nodeN/meminfo MemTotal (bytes, shifted back to KiB without rounding loss).
            // Only libvirt's fake one-cell topology (no NUMA support) would use /proc/meminfo's MemTotal instead,
            // which on a container/VM host can be a different figure (here: 24 GB in /proc vs 8.7 GB in node0):
            // a mismatch here means libvirt is not reporting the node's memory.
            checks.Equal(node.Total.KiB, other.Total.KiB, $"{n}: total memory KiB");
            checks.True(node.Free.KiB <= node.Total.KiB, $"{n}: sysfs free memory within total",
                $"free {node.Free.KiB} KiB > total {node.Total.KiB} KiB");
            checks.True(other.Free.KiB <= other.Total.KiB, $"{n}: libvirt free memory within total",
                $"free {other.Free.KiB} KiB > total {other.Total.KiB} KiB");
            if (node.HasMemory)
                checks.True(other.Free.KiB > 0, $"{n}: libvirt reports free memory (virNodeGetCellsFreeMemory)",
                    "0 KiB free on a node with memory");
            checks.Equal(string.Join(",", node.HugePages.Select(p => p.SizeKiB)), string.Join(",", other.HugePages
                .Select(p => p.SizeKiB)), $"{n}: huge page sizes KiB");
            var after = sysfsAfter.Node(node.Id);
            foreach (var pool in node.HugePages)
            {
                pagePools++;
                var theirs = other.HugePages.FirstOrDefault(p => p.SizeKiB == pool.SizeKiB);
                if (theirs is null) continue; // reported by the sizes check above
                var settled = after?.HugePages.FirstOrDefault(p => p.SizeKiB == pool.SizeKiB)?.Total;
                checks.True(theirs.Total == pool.Total || theirs.Total == settled, $"{n}: {pool.SizeKiB} KiB pages " +
                    $"configured",
                    $"sysfs {pool.Total} (then {settled}), libvirt {theirs.Total}");
                checks.True(theirs.Free is null || theirs.Free <= theirs.Total, $"{n}: {pool.SizeKiB} KiB free pages " +
                    $"within configured",
                    $"libvirt free {theirs.Free} > configured {theirs.Total}");
            }

            foreach (var cpu in node.Cpus.Where(c => c.Online))
            {
                var c = $"{n} CPU {cpu.Id}";
                if (other.Cpus.FirstOrDefault(x => x.Id == cpu.Id) is not { Online: true } theirs)
                {
                    checks.True(false, $"{c}: online in libvirt too", "libvirt lists it offline or not at all");
                    continue;
                }
                cpusCompared++;
                checks.Equal(cpu.Socket, theirs.Socket, $"{c}: socket");
                checks.Equal(cpu.Core, theirs.Core, $"{c}: core");
                checks.Equal(cpu.Siblings?.ToString(), theirs.Siblings?.ToString(), $"{c}: thread siblings");
                if (cpu.Die is not null && theirs.Die is not null) // libvirt reports die_id only since 6.x
                {
                    diesCompared++;
                    checks.Equal(cpu.Die, theirs.Die, $"{c}: die");
                }
            }
        }
        checks.True(cpusCompared > 0, "at least one online CPU compared", "sysfs reported no online CPU");

        var grouping = string.Join("; ", sysfs.Nodes.Select(node => $"node {node.Id}: " + string.Join(" ",
            node.OnlineCpus.GroupBy(c => (c.Socket, c.Core))
                .Select(g => $"s{g.Key.Socket}c{g.Key.Core}[{HostTopology.Describe(g.Select(c => c.Id))}]"))));
        Figures.Report(output, string.Create(CultureInfo.InvariantCulture,
            $"host topology sysfs vs libvirt (QEMU driver, private libvirtd): {checks.Passed} checks agree, " +
                $"{checks.Failures.Count} differ; " +
            $"nodes {sysfs.NodeIds} (with memory {sysfs.NodeIdsWithMemory}), CPUs {sysfs.CpuIds} (online " +
                $"{sysfs.OnlineCpuIds}), " +
            $"{cpusCompared} CPUs' socket/core/siblings ({diesCompared} dies) compared, grouping {grouping}; " +
            $"memory per node exact ({string.Join(", ", sysfs.Nodes.Select(x => $"{x.Id}: {x.Total.KiB} KiB"))}), " +
            $"{pagePools} huge page pools " +
                $"({string.Join(",", sysfs.Nodes.SelectMany(x => x.HugePages).Select(p => p.SizeKiB).Distinct())} " +
                $"KiB); free memory only checked within total"));
        checks.ThrowIfFailed();
    }

    [Fact]
    public void Hook_validates_pinnings_against_the_private_qemu_driver()
    {
        LibvirtBindingTests.RequireLibvirt();
        var host = SysfsTopologyReader.Read(SysfsRoot, cpuTopology: false, hugePages: false);
        // A CPU the host has and that is online: 1 on any multi-CPU host (the brief's cputune=0#1).
        host.Cpu(1).Should().NotBeNull($"this test pins to CPU 1; the host has CPUs {host.CpuIds}")
            .And.Match<HostCpu>(c => c.Online, "CPU 1 must be online");
        host.Cpu(99).Should().BeNull($"this test needs CPU 99 to be missing; the host has CPUs {host.CpuIds}");
        var env = new Dictionary<string, string>
        {
            ["LARGEGUEST__Topology__Source"] = "libvirt",
            ["LARGEGUEST__Topology__LibvirtUri"] = libvirt.Uri,
        };
        using var hooks = new VdsmHookRunner();
        var xml = System.Text.Encoding.UTF8.GetBytes(TopologyProcessTests.Domain(2, 2048));

        var ok = hooks.Run("before_vm_start", xml, new Dictionary<string, string> { ["cputune"] = "0#1" },
            environment: env);
        output.WriteLine($"cputune=0#1: {ok}");
        ok.ExitCodes.Should().Equal([0], $"CPU 1 exists and is online in libvirt's model of this host; {ok}");
        ok.Stderr.Should().BeEmpty("Topology:Source=libvirt reads libvirt without any note or fallback");
        ok.XmlText.Should().Contain("<vcpupin vcpu='0' cpuset='1'/>");

        var bad = hooks.Run("before_vm_start", xml, new Dictionary<string, string> { ["cputune"] = "0#99" },
            environment: env);
        output.WriteLine($"cputune=0#99: {bad}");
        bad.ExitCodes.Should().Equal([2], $"CPU 99 does not exist on this host; {bad}");
        // The CPU list in the message is this host's (test:///default would say 0-15): the model came from the QEMU
        // driver.
        bad.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle().Which.Should()
            .StartWith($"largeguest: error: cputune: vCPU 0 is pinned to CPU 99, which this host does not have (host " +
                $"CPUs: {host.CpuIds})");
        bad.Xml.Should().Equal(xml, "a refused run leaves the domain XML as it was");
        bad.FileUntouched.Should().BeTrue("a refused run does not open the file for writing");

        Figures.Report(output, $"hook Topology:Source=libvirt against the private QEMU-driver libvirtd: cputune=0#1 " +
            $"exit 0 (vcpupin written), " +
            $"cputune=0#99 exit 2 naming CPU 99 and host CPUs {host.CpuIds}");
    }
}
