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

    internal static string DomainXml(int vcpus, MemorySize memory, int? sockets = null, int ioThreads = 0) => $"""
        <domain type='kvm'>
          <name>suggested</name>
          <memory unit='KiB'>{memory.KiB}</memory>
          <vcpu placement='static'>{vcpus}</vcpu>{(ioThreads > 0 ? $"\n  <iothreads>{ioThreads}</iothreads>" : "")}
          <os>
            <type arch='x86_64'>hvm</type>
          </os>{(sockets is int s ? $"\n  <cpu><topology sockets='{s}' cores='{vcpus / s}' threads='1'/></cpu>" : "")}
        </domain>
        """;

    /// <summary>The suggestion's strings through the grammar, the domain checks, the host checks and the
    /// rewriter.</summary>
    private static (HostVerdict Verdict, DomainDocument Doc) RoundTrip(HostTopology host, Suggestion s, int vcpus,
        MemorySize memory, int? sockets = null, int ioThreads = 0)
    {
        var config = LargeguestConfig.FromOptions(
            new LargeguestOptions { NumaTune = new NumaTuneOptions { StrictMemory = "fail" } });
        var values = s.PropertyString.Split(';').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var props = LargeguestProperties.Parse(values, config.DefaultMode);
        var doc = DomainDocument.Parse(DomainXml(vcpus, memory, sockets, ioThreads));
        DomainChecks.Check(doc, props);
        DomainChecks.GuestTopologyMismatch(doc, props.GuestNuma!)
            .Should().BeNull("suggested cells hold whole guest sockets");
        // The suggester never writes preferred on several nodes: the stack must not be asked.
        var verdict = HostChecks.Check(new DomainFacts(doc.Memory, doc.HugePageKiB), props, host, config,
            () => throw new InvalidOperationException("preferred on several nodes suggested"));
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
    [InlineData(17, 1, null, "17 vCPUs need 17 online host CPUs (one each), but all usable nodes together (node 0-1) " +
        "have 16")]
    [InlineData(4, 25, null, "26214400 KiB (25 GiB) does not fit: all usable nodes together (node 0-1) have 25165824 " +
        "KiB (24 GiB) free")]
    [InlineData(4, 1, 3, "--cells 3: the host has 2 usable NUMA node(s)")]
    [InlineData(1, 1, 2, "--cells 2: more cells than the guest's 1 vCPU(s)")]
    [InlineData(1, 20, null, "20971520 KiB (20 GiB) needs the free memory of 2 NUMA nodes (node 0-1), but each guest " +
        "cell needs a vCPU and the guest has 1")]
    [InlineData(10, 1, 1, "10 vCPUs need 10 online host CPUs (one each), but the 1 node(s) with the most free memory " +
        "(node 0) have 8")]
    public void Impossible_requests_say_why(int vcpus, int memoryGiB, int? cells, string message) =>
        FluentActions.Invoking(() => PlacementSuggester.Suggest(TwoNodes, vcpus, new MemorySize(memoryGiB * GiB),
            cells))
            .Should().Throw<PlacementException>().WithMessage(message + "*");

    [Property(MaxTest = 300)]
    public bool Every_suggestion_round_trips_through_grammar_and_checks(PositiveInt vcpuSeed, PositiveInt memorySeed,
        NonNegativeInt cellSeed, NonNegativeInt shapeSeed)
    {
        var vcpus = vcpuSeed.Get % 70 + 1;
        var memory = new MemorySize((memorySeed.Get % (110 * 1024) + 1) * 1024L); // 1 MiB .. 110 GiB
        int? cells = cellSeed.Get % 10 == 0 ? null : cellSeed.Get % 10;
        // A third of the guests have a topology (a divisor of the vCPUs as sockets), a third I/O threads.
        var divisors = Enumerable.Range(1, vcpus).Where(d => vcpus % d == 0).ToList();
        int? sockets = shapeSeed.Get % 3 == 0 ? divisors[shapeSeed.Get / 3 % divisors.Count] : null;
        var ioThreads = shapeSeed.Get % 3 == 1 || shapeSeed.Get % 6 == 3 ? shapeSeed.Get / 6 % 4 + 1 : 0;
        var unit = sockets is int sk ? vcpus / sk : 1;
        var perNode = (8 - (ioThreads > 0 ? 1 : 0)) / unit * unit; // vCPUs one node can take
        Suggestion s;
        try { s = PlacementSuggester.Suggest(EightNodes, vcpus, memory, cells, sockets, ioThreads); }
        catch (PlacementException)
        {
            // Only refused when it truly cannot fit: too many vCPUs or cells, or too much memory.
            var needCells = cells ?? 1;
            return vcpus > 8 * perNode || memory.KiB > 96 * GiB || needCells > 8 || needCells > vcpus / unit
                || perNode == 0
                || (cells is int k && (vcpus > k * perNode || memory.KiB > k * 12 * GiB));
        }
        var (verdict, doc) = RoundTrip(EightNodes, s, vcpus, memory, sockets, ioThreads);
        var vcpuCpus = s.Cells.SelectMany(c => c.HostCpus).ToHashSet();
        var ioApart = s.CpuTune.IoThreads.Count == ioThreads
            && s.CpuTune.IoThreads.All(t => t.CpuSet.Ids.All(c => !vcpuCpus.Contains(c))
                && s.Cells.Any(c => EightNodes.Node(c.HostNode)!.Cpus.Select(x => x.Id).ToHashSet()
                    .IsSupersetOf(t.CpuSet.Ids)))
            && (ioThreads == 0 ? s.CpuTune.Emulator is null : s.CpuTune.Emulator!.Ids.All(c => !vcpuCpus.Contains(c)));
        var pins = s.CpuTune.PinnedVcpus.ToList();
        var siblingsTogether = s.Cells.All(c =>
            Enumerable.Range(0, c.HostCpus.Count / 2)
                .All(i => EightNodes.Cpu(c.HostCpus[2 * i])!.Siblings!.Contains(c.HostCpus[2 * i + 1])));
        return verdict.Errors.Count == 0 && verdict.Warnings.Count == 0
            && pins.Count == vcpus && pins.Select(p => p.CpuSet.Min).Distinct().Count() == vcpus
            && s.Cells.All(c => EightNodes.Node(c.HostNode)!.Free >= c.Memory)
            && s.GuestNuma.TotalMemory == memory
            && (cells is null || s.Cells.Count == cells)
            && siblingsTogether
            && ioApart
            && s.Cells.All(c => c.Vcpus.Count % unit == 0)
            && doc.ToText().Contains("<numa>");
    }

    [Fact]
    public void Cells_follow_the_guests_sockets()
    {
        // 12 vCPUs in 3 sockets of 4 on two 8-CPU nodes: not 6 + 6 (that splits socket 1) but 8 + 4.
        var s = PlacementSuggester.Suggest(TwoNodes, 12, new MemorySize(12 * GiB), sockets: 3);
        s.GuestNuma.ToString().Should().Be("0-7#8G#0,8-11#4G#1");
        PlacementSuggester.Suggest(TwoNodes, 12, new MemorySize(12 * GiB)).GuestNuma.ToString()
            .Should().Be("0-5#6G#0,6-11#6G#1",
            "without a topology the vCPUs are spread evenly");
        RoundTrip(TwoNodes, s, 12, new MemorySize(12 * GiB), sockets: 3).Verdict.Warnings.Should().BeEmpty();
        FluentActions.Invoking(() => PlacementSuggester.Suggest(TwoNodes, 12, new MemorySize(GiB), sockets: 5))
            .Should().Throw<PlacementException>()
                .WithMessage("--sockets 5: 12 vCPUs do not make 5 equal guest sockets*");
        FluentActions.Invoking(() => PlacementSuggester.Suggest(TwoNodes, 12, new MemorySize(GiB), sockets: 1))
            .Should().Throw<PlacementException>()
                .WithMessage("12 vCPUs need 12 online host CPUs (one each), but all usable nodes together (node 0-1) " +
                "have 16, room for 0 vCPUs in whole guest sockets of 12*");
    }

    [Fact]
    public void Io_threads_and_the_emulator_get_the_cpus_the_vcpus_leave_free_in_each_cell()
    {
        // Node 0: cores (0,8) (1,9) (2,10) (3,11); node 1: (4,12) ... One CPU per node stays free of vCPUs.
        var s = PlacementSuggester.Suggest(TwoNodes, 12, new MemorySize(8 * GiB), ioThreads: 3);
        s.GuestNuma.ToString().Should().Be("0-5#4G#0,6-11#4G#1");
        s.CpuTune.IoThreads.Should().Equal(
            new IoThreadPin(1, CpuSet.Parse("3,11")), // cell 0's free core
            new IoThreadPin(2, CpuSet.Parse("7,15")), // cell 1's
            new IoThreadPin(3, CpuSet.Parse("3,11")));
        s.CpuTune.Emulator.Should().Be(CpuSet.Parse("3,7,11,15"));
        // 7 vCPUs on one node: the 8th CPU, the free thread sibling of vCPU 6's, runs the I/O thread.
        var one = PlacementSuggester.Suggest(TwoNodes, 7, new MemorySize(GiB), ioThreads: 1);
        one.CpuTune.ToString().Should().Be("0#0,1#8,2#1,3#9,4#2,5#10,6#3,emulator#11,iothread1#11");
        RoundTrip(TwoNodes, s, 12, new MemorySize(8 * GiB), ioThreads: 3).Verdict.Errors.Should().BeEmpty();
        FluentActions.Invoking(() => PlacementSuggester.Suggest(TwoNodes, 16, new MemorySize(GiB), ioThreads: 1))
            .Should().Throw<PlacementException>()
                .WithMessage("16 vCPUs need 16 online host CPUs (one each) plus one per guest cell for the I/O " +
                "threads and the emulator, but all usable nodes together (node 0-1) have 16*");
    }
}
