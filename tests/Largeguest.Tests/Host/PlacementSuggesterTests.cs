using FsCheck;
using FsCheck.Xunit;
using Largeguest.Config;
using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Host;

namespace Largeguest.Tests.Host;

public class PlacementSuggesterTests
{
    private const long GiB = 1048576;

    /// <summary>8 nodes x 4 cores x 2 threads, 16 GiB each with 12 GiB free (read from a sysfs fixture).</summary>
    private static readonly HostTopology EightNodes = ReadFixture(() => SysfsFixture.Symmetric(8, 4));
    private static readonly HostTopology TwoNodes = ReadFixture(() => SysfsFixture.Symmetric(2, 4));

    private static HostTopology ReadFixture(Func<SysfsFixture> make)
    {
        using var f = make();
        return SysfsTopologyReader.Read(f.Root);
    }

    internal static string DomainXml(int vcpus, MemorySize memory) => $"""
        <domain type='kvm'>
          <name>suggested</name>
          <memory unit='KiB'>{memory.KiB}</memory>
          <vcpu placement='static'>{vcpus}</vcpu>
          <os>
            <type arch='x86_64'>hvm</type>
          </os>
        </domain>
        """;

    /// <summary>The suggestion's strings through the grammar, the domain checks, the host checks and the rewriter.</summary>
    private static (HostVerdict Verdict, DomainDocument Doc) RoundTrip(HostTopology host, Suggestion s, int vcpus, MemorySize memory)
    {
        var config = LargeguestConfig.FromOptions(new LargeguestOptions { NumaTune = new NumaTuneOptions { StrictMemory = "fail" } });
        var values = s.PropertyString.Split(';').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var props = LargeguestProperties.Parse(values, config.DefaultMode);
        var doc = DomainDocument.Parse(DomainXml(vcpus, memory));
        DomainChecks.Check(doc, props);
        // The suggester never writes preferred on several nodes: the stack must not be asked.
        var verdict = HostChecks.Check(DomainFacts.From(doc), props, host, config, () => throw new InvalidOperationException("preferred on several nodes suggested"));
        DomainRewriter.Apply(doc, verdict.Properties, config.DefaultMode, verdict.CellModes);
        return (verdict, doc);
    }

    [Fact]
    public void A_guest_that_fits_one_node_gets_one_cell_with_whole_cores()
    {
        var s = PlacementSuggester.Suggest(TwoNodes, 4, new MemorySize(8 * GiB));
        // Node 0: cores 0-3, thread siblings (0,8) (1,9) ...: vCPUs 0,1 share core 0, vCPUs 2,3 core 1.
        s.CpuTune.ToString().Should().Be("0#0,1#8,2#1,3#9");
        s.NumaTune.ToString().Should().Be("preferred#0");
        s.GuestNuma.ToString().Should().Be("0-3#8G#0");
        var (verdict, _) = RoundTrip(TwoNodes, s, 4, new MemorySize(8 * GiB));
        verdict.Errors.Should().BeEmpty();
        verdict.Warnings.Should().BeEmpty();
    }

    [Fact]
    public void A_guest_larger_than_a_node_gets_one_cell_per_node_with_memory_split_to_fit()
    {
        // 12 vCPUs and 20 GiB: one node has 8 CPUs and 12 GiB free, so two nodes; 6 vCPUs and 10 GiB each.
        var s = PlacementSuggester.Suggest(TwoNodes, 12, new MemorySize(20 * GiB));
        s.GuestNuma.ToString().Should().Be("0-5#10G#0,6-11#10G#1");
        s.NumaTune.ToString().Should().Be("interleave#0-1");
        s.CpuTune.ToString().Should().Be("0#0,1#8,2#1,3#9,4#2,5#10,6#4,7#12,8#5,9#13,10#6,11#14");
        var (verdict, doc) = RoundTrip(TwoNodes, s, 12, new MemorySize(20 * GiB));
        verdict.Errors.Should().BeEmpty();
        doc.ToText().Should().Contain("<memnode cellid='1' mode='interleave' nodeset='1'/>");
    }

    [Fact]
    public void Memory_follows_free_memory_when_nodes_differ()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0-3", 16 * GiB, 2 * GiB).Node(1, "4-7", 16 * GiB, 14 * GiB);
        for (var c = 0; c < 8; c++) f.Cpu(c, c / 4, c % 4, $"{c}");
        var host = SysfsTopologyReader.Read(f.Root);
        var s = PlacementSuggester.Suggest(host, 8, new MemorySize(12 * GiB));
        s.GuestNuma.ToString().Should().Be("0-3#2G#0,4-7#10G#1");
    }

    [Fact]
    public void Cells_asks_for_that_many_nodes()
    {
        var s = PlacementSuggester.Suggest(EightNodes, 8, new MemorySize(8 * GiB), cells: 4);
        s.Cells.Should().HaveCount(4);
        s.GuestNuma.Cells.Select(c => c.Memory).Should().OnlyContain(m => m == new MemorySize(2 * GiB));
        s.GuestNuma.Cells.Select(c => c.Vcpus.Count).Should().OnlyContain(n => n == 2);
        RoundTrip(EightNodes, s, 8, new MemorySize(8 * GiB)).Verdict.Errors.Should().BeEmpty();
    }

    [Fact]
    public void Memoryless_nodes_and_offline_cpus_are_not_used()
    {
        using var f = new SysfsFixture();
        f.Node(0, "0-3", 0, 0).Node(1, "4-7", 8 * GiB, 8 * GiB);
        for (var c = 0; c < 8; c++) f.Cpu(c, c / 4, c % 4, $"{c}", online: c != 5);
        var s = PlacementSuggester.Suggest(SysfsTopologyReader.Read(f.Root), 3, new MemorySize(GiB));
        s.CpuTune.ToString().Should().Be("0#4,1#6,2#7");
        s.NumaTune.ToString().Should().Be("preferred#1");
    }

    [Theory]
    [InlineData(17, 1, null, "17 vCPUs need 17 online host CPUs (one each), but all usable nodes together (node 0-1) have 16")]
    [InlineData(4, 25, null, "26214400 KiB (25 GiB) does not fit: all usable nodes together (node 0-1) have 25165824 KiB (24 GiB) free")]
    [InlineData(4, 1, 3, "--cells 3: the host has 2 usable NUMA node(s)")]
    [InlineData(1, 1, 2, "--cells 2: more cells than the guest's 1 vCPU(s)")]
    [InlineData(1, 20, null, "20971520 KiB (20 GiB) needs the free memory of 2 NUMA nodes (node 0-1), but each guest cell needs a vCPU and the guest has 1")]
    [InlineData(10, 1, 1, "10 vCPUs need 10 online host CPUs (one each), but the 1 node(s) with the most free memory (node 0) have 8")]
    public void Impossible_requests_say_why(int vcpus, int memoryGiB, int? cells, string message) =>
        FluentActions.Invoking(() => PlacementSuggester.Suggest(TwoNodes, vcpus, new MemorySize(memoryGiB * GiB), cells))
            .Should().Throw<PlacementException>().WithMessage(message + "*");

    [Property(MaxTest = 300)]
    public bool Every_suggestion_round_trips_through_grammar_and_checks(PositiveInt vcpuSeed, PositiveInt memorySeed, NonNegativeInt cellSeed)
    {
        var vcpus = vcpuSeed.Get % 70 + 1;
        var memory = new MemorySize((memorySeed.Get % (110 * 1024) + 1) * 1024L); // 1 MiB .. 110 GiB
        int? cells = cellSeed.Get % 10 == 0 ? null : cellSeed.Get % 10;
        Suggestion s;
        try { s = PlacementSuggester.Suggest(EightNodes, vcpus, memory, cells); }
        catch (PlacementException)
        {
            // Only refused when it truly cannot fit: too many vCPUs or cells, or too much memory.
            var needCells = cells ?? 1;
            return vcpus > 64 || memory.KiB > 96 * GiB || needCells > 8 || needCells > vcpus
                || (cells is int k && (vcpus > k * 8 || memory.KiB > k * 12 * GiB));
        }
        var (verdict, doc) = RoundTrip(EightNodes, s, vcpus, memory);
        var pins = s.CpuTune.PinnedVcpus.ToList();
        var siblingsTogether = s.Cells.All(c =>
            Enumerable.Range(0, c.HostCpus.Count / 2).All(i => EightNodes.Cpu(c.HostCpus[2 * i])!.Siblings!.Contains(c.HostCpus[2 * i + 1])));
        return verdict.Errors.Count == 0 && verdict.Warnings.Count == 0
            && pins.Count == vcpus && pins.Select(p => p.CpuSet.Min).Distinct().Count() == vcpus
            && s.Cells.All(c => EightNodes.Node(c.HostNode)!.Free >= c.Memory)
            && s.GuestNuma.TotalMemory == memory
            && (cells is null || s.Cells.Count == cells)
            && siblingsTogether
            && doc.ToText().Contains("<numa>");
    }
}
