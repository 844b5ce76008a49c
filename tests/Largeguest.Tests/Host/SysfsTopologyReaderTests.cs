using System.Diagnostics;
using Largeguest.Grammar;
using Largeguest.Host;

namespace Largeguest.Tests.Host;

public class SysfsTopologyReaderTests
{
    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 8)]
    [InlineData(4, 6)]
    [InlineData(8, 2)]
    public void Reads_symmetric_hosts_of_1_2_4_and_8_nodes(int nodes, int cores)
    {
        using var f = SysfsFixture.Symmetric(nodes, cores, memoryGiB: 16);
        var t = SysfsTopologyReader.Read(f.Root);

        t.Nodes.Select(n => n.Id).Should().Equal(Enumerable.Range(0, nodes));
        t.Cpus.Should().HaveCount(nodes * cores * 2).And.OnlyContain(c => c.Online);
        t.CpuIds.Should().Be($"0-{nodes * cores * 2 - 1}");
        foreach (var node in t.Nodes)
        {
            node.Total.Should().Be(new MemorySize(16L * 1048576));
            node.Free.Should().Be(new MemorySize(12L * 1048576));
            node.HugePages.Should().Equal(new PagePool(2048, 512, 256));
            node.Cpus.Should().HaveCount(cores * 2).And.OnlyContain(c => c.Socket == node.Id && c.Die == 0);
            // Thread siblings: CPU c and c + all cores share a core.
            var cpu = node.Cpus[0];
            cpu.Siblings!.ToString().Should().Be($"{cpu.Id},{cpu.Id + nodes * cores}");
            t.Cpu(cpu.Id + nodes * cores)!.Core.Should().Be(cpu.Core);
        }
    }

    [Fact]
    public void A_cpu_list_longer_than_a_page_is_read_whole()
    {
        // Since Linux 5.16 a node's cpulist may exceed a page (a bin attribute); every other CPU of 0-8191 is ~20 KB.
        var even = string.Join(",", Enumerable.Range(0, 4096).Select(i => 2 * i));
        using var f = new SysfsFixture();
        f.Node(0, even, 8388608, 4194304);
        even.Length.Should().BeGreaterThan(4096 * 4);
        var t = SysfsTopologyReader.Read(f.Root, cpuTopology: false, hugePages: false);

        t.Node(0)!.Cpus.Should().HaveCount(4096);
        t.Node(0)!.Cpus[^1].Id.Should().Be(8190);
    }

    [Fact]
    public void Offline_cpus_are_kept_without_topology()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0-3", 8388608, 4194304)
            .Cpu(0, 0, 0, "0").Cpu(1, 0, 1, "1").Cpu(2, 0, 2, "2", online: false).Cpu(3, 0, 3, "3", online: false);
        var t = SysfsTopologyReader.Read(f.Root);

        t.Cpus.Select(c => (c.Id, c.Online)).Should().Equal((0, true), (1, true), (2, false), (3, false));
        t.Cpu(2).Should().Be(new HostCpu(2, false));
        t.OnlineCpuIds.Should().Be("0-1");
        t.CpuIds.Should().Be("0-3");
    }

    [Fact]
    public void Offline_cpus_dropped_from_the_node_list_are_found_through_their_node_link()
    {
        using var f = SysfsFixture.Symmetric(2, 2); // node 0: 0-1,4-5; node 1: 2-3,6-7
        f.Offline(6, node: 1).Offline(1, node: 0);
        File.ReadAllText(Path.Combine(f.Root, "devices", "system", "node", "node1", "cpulist")).Should().Be("2-3,7\n");
        var t = SysfsTopologyReader.Read(f.Root);

        t.Node(1)!.Cpus.Select(c => (c.Id, c.Online)).Should().Equal((2, true), (3, true), (6, false), (7, true));
        t.Node(0)!.Cpus.Select(c => c.Id).Should().Equal(0, 1, 4, 5);
        t.OnlineCpuIds.Should().Be("0,2-5,7");
        t.Cpu(6).Should().Be(new HostCpu(6, false));
    }

    [Fact]
    public void The_hook_reads_only_which_cpus_exist_and_are_online()
    {
        using var f = SysfsFixture.Symmetric(2, 2);
        f.Offline(6, node: 1);
        var full = SysfsTopologyReader.Read(f.Root);
        var lean = SysfsTopologyReader.Read(f.Root, cpuTopology: false);
        lean.Cpus.Should().Equal(full.Cpus.Select(c => new HostCpu(c.Id, c.Online)));
        lean.Nodes.Select(n => (n.Id, n.Total, n.Free, n.HugePages.Count)).Should().Equal(full.Nodes
            .Select(n => (n.Id, n.Total, n.Free, n.HugePages.Count)));
        SysfsTopologyReader.Read(f.Root, hugePages: false).Nodes.Should().OnlyContain(n => n.HugePages.Count == 0);
        full.Nodes.Should().OnlyContain(n => n.HugePages.Count == 1);
    }

    [Fact]
    public void Without_the_online_list_each_cpu_online_file_decides()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0-2", 8388608, 4194304).Cpu(0, 0, 0, "0").Cpu(1, 0, 1, "1").Cpu(2, 0, 2, "2", online: false);
        File.Delete(Path.Combine(f.Root, "devices", "system", "cpu", "online"));
        SysfsTopologyReader.Read(f.Root).OnlineCpuIds.Should().Be("0-1");
    }

    [Fact]
    public void A_memoryless_node_has_cpus_but_no_memory()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0-1", 8388608, 4194304).Cpu(0, 0, 0, "0").Cpu(1, 0, 1, "1")
            .Node(1, "2-3", 0, 0).Cpu(2, 1, 0, "2").Cpu(3, 1, 1, "3")
            .Node(2, "", 4194304, 4194304); // memory-only node (e.g. CXL or hot-added memory): no CPUs
        var t = SysfsTopologyReader.Read(f.Root);

        t.Node(1)!.HasMemory.Should().BeFalse();
        t.Node(1)!.Cpus.Select(c => c.Id).Should().Equal(2, 3);
        t.Node(2)!.Cpus.Should().BeEmpty();
        t.Node(2)!.HasMemory.Should().BeTrue();
        t.NodeIdsWithMemory.Should().Be("0,2");
    }

    [Fact]
    public void Holes_in_node_ids_are_kept()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0", 1048576, 524288).Cpu(0, 0, 0, "0")
            .Node(2, "1", 1048576, 524288).Cpu(1, 1, 0, "1")
            .Node(5, "2", 1048576, 524288).Cpu(2, 2, 0, "2");
        var t = SysfsTopologyReader.Read(f.Root);

        t.Nodes.Select(n => n.Id).Should().Equal(0, 2, 5);
        t.NodeIds.Should().Be("0,2,5");
        File.Delete(Path.Combine(f.Root, "devices", "system", "node",
            "online")); // older kernels: the node directories decide
        SysfsTopologyReader.Read(f.Root).NodeIds.Should().Be("0,2,5");
        t.NodeOfCpu(2)!.Id.Should().Be(5);
        t.Node(1).Should().BeNull();
    }

    [Fact]
    public void Huge_page_pools_per_node_smallest_first()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0", 8388608, 1048576, (1048576, 4, 3), (2048, 1024, 1000)).Cpu(0, 0, 0, "0")
            .Node(1, "1", 8388608, 1048576, (2048, 0, 0)).Cpu(1, 1, 0, "1");
        var t = SysfsTopologyReader.Read(f.Root);

        t.Node(0)!.HugePages.Should().Equal(new PagePool(2048, 1024, 1000), new PagePool(1048576, 4, 3));
        t.Node(0)!.HugePages[1].FreeMemory.Should().Be(new MemorySize(3 * 1048576L));
        t.Node(1)!.HugePages.Should().Equal(new PagePool(2048, 0, 0));
    }

    [Fact]
    public void A_root_without_a_node_directory_is_a_clear_error()
    {
        var root = Directory.CreateTempSubdirectory("lg-empty-").FullName;
        try
        {
            FluentActions.Invoking(() => SysfsTopologyReader.Read(root)).Should().Throw<TopologyException>()
                .WithMessage($"*{root}/devices/system/node does not exist*");
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void A_malformed_file_is_named_in_the_error()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0", 1048576, 524288).Cpu(0, 0, 0, "0");
        var meminfo = Path.Combine(f.Root, "devices", "system", "node", "node0", "meminfo");
        File.WriteAllText(meminfo, "Node 0 MemTotal: lots kB\n");
        FluentActions.Invoking(() => SysfsTopologyReader.Read(f.Root)).Should().Throw<TopologyException>()
            .WithMessage($"*{meminfo}*MemTotal 'lots kB'*");
        File.WriteAllText(Path.Combine(f.Root, "devices", "system", "node", "node0", "cpulist"), "0-x\n");
        FluentActions.Invoking(() => SysfsTopologyReader.Read(f.Root)).Should().Throw<TopologyException>()
            .WithMessage("*cpulist*");
    }

    /// <summary>This machine's /sys against util-linux's lscpu, an independent reader of the same kernel
    /// facts.</summary>
    [Fact]
    public void This_machine_agrees_with_lscpu()
    {
        var t = SysfsTopologyReader.Read("/sys");
        var psi = new ProcessStartInfo("lscpu", ["-p=CPU,NODE,SOCKET,CORE,ONLINE",
            "--all"]) { RedirectStandardOutput = true };
        Process lscpu;
        try { lscpu = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("lscpu (util-linux) is " +
            "missing on this machine: " + e.Message); }
        var lines = lscpu.StandardOutput.ReadToEnd().Split('\n').Where(l => l.Length > 0 && l[0] != '#').ToList();
        lscpu.WaitForExit();
        lines.Should().NotBeEmpty();
        foreach (var fields in lines.Select(l => l.Split(',')))
        {
            var id = int.Parse(fields[0]);
            var cpu = t.Cpu(id);
            cpu.Should().NotBeNull($"lscpu lists CPU {id}");
            cpu!.Online.Should().Be(fields[4] == "Y", $"CPU {id} online state");
            if (fields[1].Length > 0) t.NodeOfCpu(id)!.Id.Should().Be(int.Parse(fields[1]), $"CPU {id} node");
            if (cpu.Online) cpu.Socket.Should().Be(int.Parse(fields[2]), $"CPU {id} socket");
        }
        t.Cpus.Should().HaveCount(lines.Count);
        t.Nodes.Should().OnlyContain(n => n.Total.KiB > 0 || n.Cpus.Count > 0);
        t.Nodes.Sum(n => n.Total.KiB).Should().BeGreaterThan(0);
    }
}
