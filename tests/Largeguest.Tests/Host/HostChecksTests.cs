using Largeguest.Config;
using Largeguest.Grammar;
using Largeguest.Host;

namespace Largeguest.Tests.Host;

public class HostChecksTests
{
    private const long GiB = 1048576;

    /// <summary>
    /// Nodes 0 and 1: CPUs 0-3 and 4-7 (CPU 6 offline), 16 GiB each with 8 GiB (node 0) and 4 GiB (node 1) free,
    /// 1 GiB pages: 8 free on node 0, none on node 1. Node 2: CPUs 8-9, no memory. No node 3; node 4: 2 GiB, no CPUs.
    /// </summary>
    internal static readonly HostTopology Host = new(
    [
        new HostNode(0, Cpus(0, 4), new MemorySize(16 * GiB), new MemorySize(8 * GiB), [new PagePool(1048576, 8, 8)]),
        new HostNode(1, [.. Cpus(4, 4)
            .Select(c => c.Id == 6 ? new HostCpu(6, false) : c)], new MemorySize(16 * GiB), new MemorySize(4 * GiB),
            [new PagePool(1048576, 0, 0)]),
        new HostNode(2, Cpus(8, 2), new MemorySize(0), new MemorySize(0), []),
        new HostNode(4, [], new MemorySize(2 * GiB), new MemorySize(2 * GiB), []),
    ], "test");

    private static List<HostCpu> Cpus(int first, int count) =>
        [.. Enumerable.Range(first, count)
            .Select(id => new HostCpu(id, true, first / 4, 0, id - first, CpuSet.Of([id])))];

    private static LargeguestProperties Props(string properties, NumaMode defaultMode = NumaMode.Preferred) =>
        LargeguestProperties.Parse(properties.Split(';')
            .Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]), defaultMode);

    /// <summary>libvirt 9.0 (Debian 12, EL9.2): multi-node preferred cannot start.</summary>
    private static readonly PreferredMany OldLibvirt = PreferredMany.Decide(new Version(9, 0, 0), null);

    private static HostVerdict Check(string properties, string policy = "warn", long memoryGiB = 6,
        long? hugePage = null, string defaultMode = "preferred",
        PreferredMany? stack = null, string preferredMany = "fail")
    {
        var config = LargeguestConfig.FromOptions(new LargeguestOptions
        {
            NumaTune = new NumaTuneOptions { StrictMemory = policy, DefaultMode = defaultMode,
                PreferredManyNodes = preferredMany },
        });
        return HostChecks.Check(new DomainFacts(new MemorySize(memoryGiB * GiB), hugePage), Props(properties,
            config.DefaultMode), Host, config,
            () => stack ?? throw new InvalidOperationException("the libvirt/kernel stack was asked for a binding " +
                "that does not need it"));
    }

    [Theory]
    [InlineData("8.0.0", null, false, "libvirt 8.0.0 does not apply it: the kernel would prefer only the first node")]
    [InlineData("9.2.0", null, false, "libvirt 9.2.0 does not apply it")]
    [InlineData("9.3.0", false, false, "libvirt 9.3.0 needs the kernel's MPOL_PREFERRED_MANY (Linux 5.15+)")]
    [InlineData("10.0.0", true, true, "libvirt 10.0.0 and the kernel's MPOL_PREFERRED_MANY support it")]
    public void Preferred_on_several_nodes_depends_on_libvirt_and_the_kernel(string libvirt, bool? kernel,
        bool supported, string why)
    {
        var decision = PreferredMany.Decide(Version.Parse(libvirt), kernel);
        decision.Supported.Should().Be(supported);
        decision.Why.Should().StartWith(why);
        PreferredMany.Decide(null, true).Supported
            .Should().BeFalse("a libvirt whose version cannot be told is assumed old");
    }

    [Theory]
    [InlineData("numatune=preferred#0-1")]
    [InlineData("numatune=0-1")] // a bare nodeset takes NumaTune:DefaultMode, preferred
    public void Preferred_on_several_nodes_is_refused_on_old_libvirt_with_the_alternatives(string properties)
    {
        var verdict = Check(properties, stack: OldLibvirt);
        verdict.Errors.Single().OneLine
            .Should().Be("numatune: preferred on nodes 0-1: libvirt 9.0.0 does not apply it: the kernel would prefer " +
            "only " +
            "the first node and silently ignore the others (or libvirt refuses the start: \"NUMA memory tuning in " +
                "'preferred' mode only supports " +
            "single node\"); libvirt supports it from 9.3 (NumaTune:PreferredManyNodes=fail) " +
            "(expected: interleave#0-1, or preferred on one node (e.g. preferred#0); or " +
                "NumaTune:PreferredManyNodes=interleave)");
    }

    [Fact]
    public void Preferred_on_several_nodes_is_rewritten_to_interleave_when_configured_and_kept_where_supported()
    {
        var rewritten = Check("numatune=preferred#0-1", stack: OldLibvirt, preferredMany: "interleave");
        rewritten.Errors.Should().BeEmpty();
        rewritten.Properties.NumaTune!.ToString().Should().Be("interleave#0-1");
        rewritten.Warnings.Single()
            .Should().StartWith("numatune: preferred on nodes 0-1: libvirt 9.0.0 does not apply it").And
            .Contain("rewritten to interleave#0-1");
        var kept = Check("numatune=preferred#0-1", stack: PreferredMany.Decide(new Version(9, 5, 0), true));
        (kept.Errors.Count, kept.Warnings.Count, kept.Properties.NumaTune!.ToString())
            .Should().Be((0, 0, "preferred#0-1"));
        // One node, or a mode that is not preferred, never asks the stack (Check's provider throws if it does).
        Check("numatune=preferred#1").Errors.Should().BeEmpty();
        Check("numatune=interleave#0-1").Errors.Should().BeEmpty();
    }

    [Theory]
    [InlineData("cputune=0#0-3,1#4-5,emulator#7", null)]
    [InlineData("cputune=0#0,1#12", "cputune: vCPU 1 is pinned to CPU 12, which this host does not have (host CPUs: " +
        "0-9)")]
    [InlineData("cputune=0-1#5-6", "cputune: vCPU 0-1 is pinned to CPU 6, which is offline on this host (online " +
        "CPUs: 0-5,7-9)")]
    [InlineData("cputune=0#0,emulator#6-7", "cputune: the emulator is pinned to CPU 6, which is offline")]
    [InlineData("cputune=0#0,emulator#30", "cputune: the emulator is pinned to CPU 30, which this host does not have")]
    [InlineData("cputune=0#0,iothread1#7-9", null)]
    [InlineData("cputune=0#0,iothread1#7,iothread2#5-6", "cputune: iothread 2 is pinned to CPU 6, which is offline")]
    [InlineData("cputune=iothread3#10", "cputune: iothread 3 is pinned to CPU 10, which this host does not have " +
        "(host CPUs: 0-9)")]
    [InlineData("pincpu=0-3,20-21", "pincpu: the vCPUs are pinned to CPU 20-21, which this host does not have")]
    [InlineData("pincpu=6", "pincpu: the vCPUs are pinned to CPU 6, which is offline")]
    [InlineData("numatune=interleave#0-1", null)]
    [InlineData("numatune=preferred#3", "numatune: the memory is bound to NUMA node 3, which this host does not have " +
        "(host nodes: 0-2,4)")]
    [InlineData("numatune=interleave#0-2", "numatune: the memory is bound to NUMA node 2, which has no memory (nodes " +
        "with memory: 0-1,4)")]
    [InlineData("guestnuma=0#2G#0,1#4G#3", "guestnuma: cell 1 is bound to NUMA node 3, which this host does not have")]
    [InlineData("guestnuma=0#2G#2,1#4G", "guestnuma: cell 0 is bound to NUMA node 2, which has no memory")]
    public void Cpus_exist_and_are_online_and_nodes_exist_and_have_memory(string properties, string? error)
    {
        var verdict = Check(properties);
        if (error is null) verdict.Errors.Should().BeEmpty();
        else
        {
            verdict.Errors.Should().NotBeEmpty();
            verdict.Errors[0].OneLine.Should().StartWith(error);
            verdict.Errors[0].Expected
                .Should().MatchRegex("(CPUs this host has and that are online: 0-5,7-9|NUMA nodes of this host that " +
                "have memory: 0-1,4)");
        }
    }

    [Fact]
    public void Errors_name_the_retired_numa_property_when_it_carried_the_binding()
    {
        var config = LargeguestConfig.Defaults;
        var p = LargeguestProperties.Parse(new Dictionary<string, string> { ["numa"] = "strict:7" },
            config.DefaultMode);
        HostChecks.Check(new DomainFacts(new MemorySize(GiB)), p, Host, config, () => OldLibvirt).Errors[0].OneLine
            .Should().StartWith("numa: the memory is bound to NUMA node 7");
    }

    // Node 0 has 8 GiB free, node 1 4 GiB, together 12 GiB.
    [Theory]
    [InlineData("numatune=strict#0", 8, false)]
    [InlineData("numatune=strict#0", 9, true)]
    [InlineData("numatune=strict#0-1", 12, false)]
    [InlineData("numatune=strict#0-1", 13, true)]
    [InlineData("numatune=restrictive#1", 5, true)]
    [InlineData("numatune=preferred#1", 50, false)]
    [InlineData("numatune=interleave#0-1", 50, false)]
    public void The_strict_guard_compares_the_guest_with_the_free_memory_of_the_nodeset(string properties,
        long guestGiB, bool overflows)
    {
        var verdict = Check(properties, "warn", guestGiB);
        verdict.Errors.Should().BeEmpty();
        if (!overflows) { verdict.Warnings.Should().BeEmpty(); return; }
        verdict.Warnings.Should().ContainSingle().Which.Should().StartWith("numatune: ")
            .And.Contain($"the guest needs {guestGiB * GiB} KiB ({guestGiB} GiB)").And.Contain(" free of ")
            .And.Contain("OOM killer").And.EndWith("(NumaTune:StrictMemory=warn)");
    }

    [Fact]
    public void Warn_keeps_the_binding_and_shows_the_numbers()
    {
        var verdict = Check("numatune=strict#1", "warn", 6);
        verdict.Warnings.Should().Equal(
            "numatune: strict binding: the guest needs 6291456 KiB (6 GiB) but node 1 has 4194304 KiB (4 GiB) free " +
                "of 16 GiB; " +
            "the kernel's answer to a confined allocation that does not fit is the OOM killer; consider preferred#1 " +
                "(NumaTune:StrictMemory=warn)");
        verdict.Properties.NumaTune!.Mode.Should().Be(NumaMode.Strict);
        verdict.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Prefer_rewrites_one_node_to_preferred_and_several_to_interleave_with_a_note()
    {
        var one = Check("numatune=strict#1", "prefer", 6);
        one.Properties.NumaTune.Should().Be(new NumaTune(NumaMode.Preferred, CpuSet.Parse("1")));
        one.Notes.Should().ContainSingle().Which.Should().Contain("rewritten to preferred").And
            .Contain("4194304 KiB (4 GiB) free");
        one.Warnings.Should().BeEmpty();

        var two = Check("numatune=strict#0-1", "prefer", 20);
        two.Properties.NumaTune.Should().Be(new NumaTune(NumaMode.Interleave, CpuSet.Parse("0-1")));
        two.Notes.Should().ContainSingle().Which.Should().Contain("rewritten to interleave");
    }

    [Fact]
    public void Fail_refuses_with_the_numbers()
    {
        var verdict = Check("numatune=strict#1", "fail", 6);
        verdict.Errors.Should().ContainSingle();
        verdict.Errors[0].Property.Should().Be("numatune");
        verdict.Errors[0].Problem.Should().Contain("6291456 KiB (6 GiB)").And.Contain("4194304 KiB (4 GiB) free").And
            .Contain("StrictMemory=fail");
        verdict.Errors[0].Expected.Should().Be("nodes whose free memory holds it, or preferred#1");
    }

    [Fact]
    public void Per_cell_bindings_are_guarded_per_cell_with_the_mode_from_numatune()
    {
        // Cell 0 (6 GiB) fits node 0 (8 GiB free); cell 1 (6 GiB) does not fit node 1 (4 GiB free); the guest (12 GiB)
        // fits 0-1.
        var warn = Check("numatune=strict#0-1;guestnuma=0#6G#0,1#6G#1", "warn", 12);
        warn.Warnings.Should().ContainSingle().Which.Should()
            .StartWith("guestnuma: strict binding: cell 1 needs 6291456 KiB (6 GiB) but node 1 has 4194304 KiB (4 " +
                "GiB) free");

        var prefer = Check("numatune=strict#0-1;guestnuma=0#6G#0,1#6G#1", "prefer", 12);
        prefer.CellModes.Should().Equal(new Dictionary<int, NumaMode> { [0] = NumaMode.Strict,
            [1] = NumaMode.Preferred });
        prefer.Properties.NumaTune!.Mode.Should().Be(NumaMode.Strict);

        var fail = Check("numatune=strict#0-1;guestnuma=0#6G#0,1#6G#1", "fail", 12);
        fail.Errors.Should().ContainSingle().Which.OneLine
            .Should().StartWith("guestnuma: strict binding: cell 1 needs");
    }

    [Fact]
    public void Cells_bound_to_the_same_node_are_added_up()
    {
        var verdict = Check("numatune=strict#0;guestnuma=0#5G#0,1#5G#0", "warn", 10);
        verdict.Warnings.Should().HaveCount(2); // the guest-wide binding and cells 0-1 together
        verdict.Warnings[1].Should().StartWith("guestnuma: strict binding: cells 0-1 needs 10485760 KiB (10 GiB) but " +
            "node 0 has 8388608 KiB (8 GiB) free");
    }

    [Fact]
    public void When_the_guest_wide_binding_is_relaxed_the_cells_keep_their_mode()
    {
        var verdict = Check("numatune=strict#0;guestnuma=0#5G#0,1#5G#1", "prefer", 10);
        verdict.Properties.NumaTune!.Mode.Should().Be(NumaMode.Preferred);
        verdict.CellModes.Should().Equal(new Dictionary<int, NumaMode> { [0] = NumaMode.Strict,
            [1] = NumaMode.Preferred });
    }

    [Fact]
    public void Per_cell_bindings_without_numatune_use_the_configured_default_mode()
    {
        Check("guestnuma=0#6G#1", "warn", 6).Warnings.Should().BeEmpty("the default mode preferred does not confine");
        Check("guestnuma=0#6G#1", "warn", 6, defaultMode: "strict").Warnings.Should().ContainSingle().Which.Should()
            .Contain("cell 0");
    }

    [Fact]
    public void A_huge_page_guest_is_compared_with_free_huge_pages()
    {
        // Node 0: 8 free 1 GiB pages; node 1: none. MemFree does not matter for a huge page guest.
        Check("numatune=strict#0", "warn", 8, hugePage: 1048576).Warnings.Should().BeEmpty();
        Check("numatune=strict#0", "warn", 9, hugePage: 1048576).Warnings.Should().ContainSingle().Which.Should()
            .Contain("9437184 KiB (9 GiB) of 1 GiB huge pages but node 0 has 8388608 KiB (8 GiB) free (8 GiB " +
                "configured)");
        Check("numatune=strict#1", "warn", 1, hugePage: 0).Warnings.Should().ContainSingle().Which.Should()
            .Contain("of 1 GiB huge pages but node 1 has 0 KiB free",
                "size 0 means the host's smallest huge page size");
    }

    [Fact]
    public void A_relaxed_cell_relaxes_a_restrictive_guest_wide_binding_and_the_confined_cells_stay_strict()
    {
        // Cell 0 (5 GiB) does not fit node 1 (4 GiB free) and is relaxed; the guest-wide 6 GiB fits nodes 0-1 (12 GiB
        // free).
        var v = Check("numatune=restrictive#0-1;guestnuma=0#5G#1,1#1G#0", "prefer", 6);
        v.Errors.Should().BeEmpty();
        v.Properties.NumaTune!.Mode
            .Should().Be(NumaMode.Interleave, "libvirt refuses a restrictive memory with a preferred memnode");
        v.CellModes.Should().Equal(new Dictionary<int, NumaMode> { [0] = NumaMode.Preferred, [1] = NumaMode.Strict });
        v.Notes.Should().Contain(n => n.StartsWith("numatune: restrictive binding: rewritten to interleave#0-1 " +
            "together with cell 0, because libvirt requires every memnode restrictive"))
            .And.Contain(n => n.StartsWith("guestnuma: cell 1 stays confined as strict"));
        v.Warnings.Should().BeEmpty();
        // Nothing relaxed: restrictive stays everywhere.
        var fits = Check("numatune=restrictive#0-1;guestnuma=0#1G#1,1#1G#0", "prefer", 2);
        fits.Properties.NumaTune!.Mode.Should().Be(NumaMode.Restrictive);
        fits.CellModes.Values.Should().AllBeEquivalentTo(NumaMode.Restrictive);
        fits.Notes.Should().BeEmpty();
    }

    [Fact]
    public void A_strict_guest_wide_binding_that_stays_warns_that_a_relaxed_cell_spills_only_within_it()
    {
        var v = Check("numatune=strict#0-1;guestnuma=0#5G#1,1#1G#0", "prefer", 6);
        v.Properties.NumaTune!.Mode.Should().Be(NumaMode.Strict);
        v.CellModes.Should().Equal(new Dictionary<int, NumaMode> { [0] = NumaMode.Preferred, [1] = NumaMode.Strict });
        v.Warnings.Should().ContainSingle().Which
            .Should().Be("guestnuma: cell 0 is relaxed to preferred, but the guest-wide strict binding on nodes 0-1 " +
            "stays: " +
            "libvirt confines the whole guest's memory (the emulator's cpuset.mems) to 0-1, so cell 0 can spill only " +
                "within nodes 0-1; " +
            "a guest-wide binding on more nodes, or a relaxed guest-wide mode, lets it spill further");
        Check("numatune=strict#0-1;guestnuma=0#5G#1,1#1G#0", "warn", 6).Warnings
            .Should().NotContain(w => w.Contains("spill only"), "nothing is relaxed under warn");
    }

    [Fact]
    public void A_huge_page_shortfall_says_how_many_pages_of_which_size_to_configure()
    {
        // Node 1 has no 1 GiB pages: the 5 GiB cell needs 5 of them there, whatever the policy.
        var warning = Check("numatune=strict#0-1;guestnuma=0#1G#0,1#5G#1", "warn", 6, hugePage: 1048576).Warnings
            .Should().ContainSingle().Subject;
        warning.Should().StartWith("guestnuma: strict binding: cell 1 needs 5242880 KiB (5 GiB) of 1 GiB huge pages " +
            "but node 1 has 0 KiB free (0 KiB configured)")
            .And.Contain("; node 1 has no 1 GiB huge pages configured; configure 5 more 1 GiB pages on node 1 " +
                "(/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages)");
        // Node 0 has 8 free: a 9.5 GiB guest-wide binding lacks 2 pages (rounded up), on nodes that all have some.
        Check("numatune=strict#0", "fail", 9, hugePage: 1048576).Errors.Should().ContainSingle().Which.OneLine.Should()
            .Contain("configure 1 more 1 GiB page on node 0 (").And.NotContain("no 1 GiB huge pages configured");
        var refused = Check("numatune=strict#0-1", "fail", 10, hugePage: 1048576).Errors
            .Should().ContainSingle().Subject.OneLine;
        refused.Should().Contain("node 1 has no 1 GiB huge pages configured; configure 2 more 1 GiB pages on nodes " +
            "0-1 (nr_hugepages under /sys/devices/system/node/nodeN/hugepages/hugepages-1048576kB)");
    }

    [Theory]
    [InlineData("guestnuma=0#1G", false)]
    [InlineData("ksm_merge_across_nodes=0", false)]
    [InlineData("numatune=auto", false)]
    [InlineData("guestnuma=0#1G#0", true)]
    [InlineData("numatune=0", true)]
    [InlineData("cputune=0#0", true)]
    [InlineData("pincpu=0", true)]
    public void The_topology_is_needed_only_when_a_property_asks_something_of_the_host(string properties,
        bool needed) =>
        HostChecks.Needed(Props(properties)).Should().Be(needed);
}
