using Largeguest.Grammar;
using Largeguest.Host;

namespace Largeguest.Tests.Host;

public class CapabilitiesParseTests
{
    private const string Caps = """
        <capabilities>
          <host>
            <cpu><arch>x86_64</arch><pages unit='KiB' size='4'/><pages unit='KiB' size='2048'/><pages unit='KiB' size='1048576'/></cpu>
            <topology>
              <cells num='3'>
                <cell id='0'>
                  <memory unit='KiB'>16777216</memory>
                  <pages unit='KiB' size='4'>3932160</pages>
                  <pages unit='KiB' size='2048'>512</pages>
                  <pages unit='KiB' size='1048576'>0</pages>
                  <cpus num='4'>
                    <cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0,2'/>
                    <cpu id='1' socket_id='0' die_id='0' core_id='1' siblings='1,3'/>
                    <cpu id='2' socket_id='0' die_id='0' core_id='0' siblings='0,2'/>
                    <cpu id='3'/>
                  </cpus>
                </cell>
                <cell id='2'>
                  <cpus num='2'>
                    <cpu id='4' socket_id='1' die_id='0' core_id='0' siblings='4'/>
                    <cpu id='5' socket_id='1' die_id='0' core_id='1' siblings='5'/>
                  </cpus>
                </cell>
                <cell id='3'>
                  <memory unit='GiB'>8</memory>
                </cell>
              </cells>
            </topology>
          </host>
        </capabilities>
        """;

    [Fact]
    public void Parses_cells_cpus_memory_and_huge_pages()
    {
        var t = LibvirtTopologyReader.ParseCapabilities(Caps, "libvirt x");
        t.Nodes.Select(n => n.Id).Should().Equal(0, 2, 3);
        t.Node(0)!.Total.Should().Be(new MemorySize(16777216));
        t.Node(0)!.HugePages.Should().Equal(new PagePool(2048, 512, null), new PagePool(1048576, 0, null));
        t.Cpu(2).Should().Be(new HostCpu(2, true, 0, 0, 0, CpuSet.Parse("0,2")));
    }

    [Fact]
    public void A_cpu_without_siblings_is_offline() =>
        LibvirtTopologyReader.ParseCapabilities(Caps, "x").Cpu(3).Should().Be(new HostCpu(3, false));

    [Fact]
    public void A_cell_without_memory_is_memoryless_and_one_without_cpus_is_memory_only()
    {
        var t = LibvirtTopologyReader.ParseCapabilities(Caps, "x");
        t.Node(2)!.HasMemory.Should().BeFalse();
        t.Node(3)!.Total.Should().Be(new MemorySize(8L * 1048576));
        t.Node(3)!.Cpus.Should().BeEmpty();
        t.NodeIdsWithMemory.Should().Be("0,3");
    }

    [Theory]
    [InlineData("<capabilities><host/></capabilities>", "no <topology><cells>")]
    [InlineData("<capabilities>", "not well-formed")]
    [InlineData("<capabilities><host><topology><cells><cell id='x'/></cells></topology></host></capabilities>",
        "id='x' is not a number")]
    public void Bad_capabilities_are_clear_errors(string xml, string message) =>
        FluentActions.Invoking(() => LibvirtTopologyReader.ParseCapabilities(xml, "libvirt y"))
            .Should().Throw<TopologyException>()
            .WithMessage($"libvirt y: *{message}*");
}
