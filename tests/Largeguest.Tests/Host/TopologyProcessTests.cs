using System.Diagnostics;
using System.Text.Json;
using Largeguest.Host;

namespace Largeguest.Tests.Host;

/// <summary>The published hook and admin commands against a sysfs fixture and against libvirt's
/// test:///default.</summary>
public sealed class TopologyProcessTests : IDisposable
{
    private readonly HostBinary _bin = new();
    private readonly SysfsFixture _sysfs;

    public TopologyProcessTests()
    {
        // Two nodes x 2 cores x 2 threads (node 0: CPUs 0-1,4-5; node 1: 2-3,6-7), 16 GiB each, 12 GiB free;
        // CPU 7 offline; node 2 without memory (CPU 8).
        _sysfs = SysfsFixture.Symmetric(2, 2);
        _sysfs.Cpu(7, 1, 1, "3,7", online: false).Node(2, "8", 0, 0).Cpu(8, 2, 0, "8");
    }

    public void Dispose()
    {
        _bin.Dispose();
        _sysfs.Dispose();
    }

    private Dictionary<string, string> Sysfs(params (string, string)[] more)
    {
        var env = new Dictionary<string, string>
        {
            ["LARGEGUEST__Topology__Source"] = "sysfs",
            ["LARGEGUEST__Topology__SysfsRoot"] = _sysfs.Root,
        };
        foreach (var (k, v) in more) env[k] = v;
        return env;
    }

    private static Dictionary<string, string> Libvirt(params (string, string)[] more)
    {
        LibvirtBindingTests.RequireLibvirt();
        var env = new Dictionary<string, string>
        {
            ["LARGEGUEST__Topology__Source"] = "libvirt",
            ["LARGEGUEST__Topology__LibvirtUri"] = LibvirtBindingTests.TestUri,
        };
        foreach (var (k, v) in more) env[k] = v;
        return env;
    }

    internal static string Domain(int vcpus, long memoryKiB, string type = "kvm", string arch = "x86_64") => $"""
        <?xml version='1.0' encoding='utf-8'?>
        <domain type='{type}'>
          <name>lg-topology</name>
          <uuid>5d2a1a4c-0000-4000-8000-000000000001</uuid>
          <memory unit='KiB'>{memoryKiB}</memory>
          <vcpu placement='static'>{vcpus}</vcpu>
          <os>
            <type arch='{arch}'>hvm</type>
          </os>
        </domain>

        """;

    private const long GiB = 1048576;

    private static void RefusedWithOneLine((HostBinary.Result Result, string XmlAfter, bool Unchanged) run,
        string message)
    {
        run.Result.Exit.Should().Be(2, run.Result.Stderr);
        run.Result.StderrLines.Should().ContainSingle().Which.Should().StartWith("largeguest: error: " + message);
        run.Unchanged.Should().BeTrue("a refused run leaves the file byte-identical and untouched");
    }

    // ---- host validation, sysfs source ----

    [Theory]
    [InlineData("cputune", "0#0,1#9", "cputune: vCPU 1 is pinned to CPU 9, which this host does not have (host CPUs: " +
        "0-8)")]
    [InlineData("cputune", "0#0,1#7", "cputune: vCPU 1 is pinned to CPU 7, which is offline on this host (online " +
        "CPUs: 0-6,8)")]
    [InlineData("cputune", "0-1#0-1,emulator#7", "cputune: the emulator is pinned to CPU 7, which is offline")]
    [InlineData("pincpu", "0-3,12", "pincpu: the vCPUs are pinned to CPU 12, which this host does not have")]
    [InlineData("numatune", "strict#3", "numatune: the memory is bound to NUMA node 3, which this host does not have " +
        "(host nodes: 0-2)")]
    [InlineData("numatune", "preferred#2", "numatune: the memory is bound to NUMA node 2, which has no memory (nodes " +
        "with memory: 0-1)")]
    [InlineData("numa", "strict:2", "numa: the memory is bound to NUMA node 2, which has no memory")]
    [InlineData("guestnuma", "0#2G#0,1#2G#4",
        "guestnuma: cell 1 is bound to NUMA node 4, which this host does not have")]
    public void Sysfs_host_validation_refuses_missing_cpus_and_nodes(string property, string value, string message) =>
        RefusedWithOneLine(_bin.Hook(Domain(2, 4 * GiB), Sysfs((property, value))), message);

    [Fact]
    public void Sysfs_valid_placement_is_applied()
    {
        var run = _bin.Hook(Domain(4, 8 * GiB), Sysfs(("cputune", "0#0,1#4,2#2,3#6"), ("numatune", "strict#0-1"),
            ("guestnuma", "0-1#4G#0,2-3#4G#1")));
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        run.Result.Stderr.Should().BeEmpty();
        run.XmlAfter.Should().Contain("<memory mode='strict' nodeset='0-1'/>").And
            .Contain("<memnode cellid='1' mode='strict' nodeset='1'/>")
            .And.Contain("<vcpupin vcpu='3' cpuset='6'/>");
    }

    [Fact]
    public void Migration_destination_revalidates_xml_rewritten_on_the_source()
    {
        // The source host had CPU 12; this (destination) host's CPUs are 0-8: refused before libvirt sees it.
        var rewritten = Domain(2, 2048).Replace("<vcpu", "<cputune>\n    <vcpupin vcpu='0' cpuset='0'/>\n    " +
            "<vcpupin vcpu='1' cpuset='12'/>\n  </cputune>\n  <vcpu");
        RefusedWithOneLine(_bin.Hook(rewritten, Sysfs(("cputune", "0#0,1#12")), "before_vm_migrate_destination"),
            "cputune: vCPU 1 is pinned to CPU 12, which this host does not have (host CPUs: 0-8)");
        var fits = _bin.Hook(rewritten.Replace("cpuset='12'", "cpuset='2'"), Sysfs(("cputune", "0#0,1#2")),
            "before_vm_migrate_destination");
        fits.Result.Exit.Should().Be(0, fits.Result.Stderr);
        fits.Unchanged.Should().BeTrue("already rewritten XML is accepted unchanged");
    }

    // ---- strict-memory guard, sysfs source: node 0 has 12 GiB free of 16 GiB ----

    [Fact]
    public void Sysfs_strict_guard_warn_boots_with_a_warning_that_shows_the_numbers()
    {
        var run = _bin.Hook(Domain(2, 13 * GiB), Sysfs(("numatune", "strict#0")));
        run.Result.Exit.Should().Be(0);
        run.Result.StderrLines.Should().ContainSingle().Which.Should().Be(
            "largeguest: warning: numatune: strict binding: the guest needs 13631488 KiB (13 GiB) but node 0 has " +
                "12582912 KiB (12 GiB) free of 16 GiB; " +
            "the kernel's answer to a confined allocation that does not fit is the OOM killer; consider preferred#0 " +
                "(NumaTune:StrictMemory=warn)");
        run.XmlAfter.Should().Contain("<memory mode='strict' nodeset='0'/>");
    }

    [Fact]
    public void Sysfs_strict_guard_prefer_rewrites_with_a_note()
    {
        var run = _bin.Hook(Domain(2, 13 * GiB), Sysfs(("numatune", "strict#0"), ("LARGEGUEST__NumaTune__StrictMemory",
            "prefer")));
        run.Result.Exit.Should().Be(0);
        run.Result.StderrLines.Should().ContainSingle().Which
            .Should().StartWith("largeguest: note: numatune: strict binding: the guest needs 13631488 KiB")
            .And.Contain("rewritten to preferred");
        run.XmlAfter.Should().Contain("<memory mode='preferred' nodeset='0'/>");
    }

    [Fact]
    public void Sysfs_strict_guard_fail_refuses()
    {
        RefusedWithOneLine(_bin.Hook(Domain(2, 13 * GiB), Sysfs(("numatune", "strict#0"),
            ("LARGEGUEST__NumaTune__StrictMemory", "fail"))),
            "numatune: strict binding: the guest needs 13631488 KiB (13 GiB) but node 0 has 12582912 KiB (12 GiB) " +
                "free of 16 GiB; refused");
    }

    [Fact]
    public void Sysfs_strict_guard_counts_free_huge_pages_for_a_huge_page_guest()
    {
        // Node 0 has 512 pages of 2 MiB, 256 free (512 MiB); its 12 GiB of MemFree do not count for this guest.
        var xml = Domain(2, GiB).Replace("<vcpu", "<memoryBacking>\n    <hugepages>\n      <page size='2048' " +
            "unit='KiB'/>\n    </hugepages>\n  </memoryBacking>\n  <vcpu");
        var run = _bin.Hook(xml, Sysfs(("numatune", "strict#0")));
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        run.Result.StderrLines.Should().ContainSingle().Which.Should().StartWith(
            "largeguest: warning: numatune: strict binding: the guest needs 1048576 KiB (1 GiB) of 2 MiB huge pages " +
                "but node 0 has 524288 KiB (512 MiB) free (1 GiB configured)");
        Validate(run.XmlAfter);
        var fits = _bin.Hook(Domain(2, 512 * 1024).Replace("<vcpu", "<memoryBacking><hugepages/></memoryBacking>\n  " +
            "<vcpu"), Sysfs(("numatune", "strict#0")));
        fits.Result.Exit.Should().Be(0);
        fits.Result.Stderr.Should().BeEmpty("512 MiB of free 2 MiB pages hold a 512 MiB guest");
    }

    [Fact]
    public void An_invalid_strict_memory_policy_names_the_key()
    {
        var run = _bin.Hook(Domain(2, GiB), Sysfs(("numatune", "strict#0"), ("LARGEGUEST__NumaTune__StrictMemory",
            "maybe")));
        RefusedWithOneLine(run, "");
        run.Result.Stderr.Should().Contain("NumaTune:StrictMemory: bad value 'maybe' (expected: warn, prefer, fail)");
    }

    // ---- the libvirt source (test:///default: node 0 CPUs 0-7, 2 MiB free; node 1 CPUs 8-15, 4 MiB free) ----

    [Theory]
    [InlineData("cputune", "0#0,1#16", "cputune: vCPU 1 is pinned to CPU 16, which this host does not have (host " +
        "CPUs: 0-15)")]
    [InlineData("cputune", "0-1#8-15,emulator#20", "cputune: the emulator is pinned to CPU 20, which this host does " +
        "not have")]
    [InlineData("pincpu", "14-17", "pincpu: the vCPUs are pinned to CPU 16-17, which this host does not have")]
    [InlineData("numatune", "interleave#0-2", "numatune: the memory is bound to NUMA node 2, which this host does " +
        "not have (host nodes: 0-1)")]
    [InlineData("guestnuma", "0#1M#1,1#1M#2",
        "guestnuma: cell 1 is bound to NUMA node 2, which this host does not have")]
    public void Libvirt_host_validation_refuses_missing_cpus_and_nodes(string property, string value, string message) =>
        RefusedWithOneLine(_bin.Hook(Domain(2, 2048), Libvirt((property, value))), message);

    [Theory]
    [InlineData("warn", 0, "largeguest: warning: numatune: strict binding: the guest needs 3072 KiB (3 MiB) but node " +
        "0 has 2048 KiB (2 MiB) free of 2 GiB;", "mode='strict' nodeset='0'")]
    [InlineData("prefer", 0, "largeguest: note: numatune: strict binding: the guest needs 3072 KiB (3 MiB) but node " +
        "0 has 2048 KiB (2 MiB) free of 2 GiB; rewritten to preferred", "mode='preferred' nodeset='0'")]
    [InlineData("fail", 2, "largeguest: error: numatune: strict binding: the guest needs 3072 KiB (3 MiB) but node 0 " +
        "has 2048 KiB (2 MiB) free of 2 GiB; refused", null)]
    public void Libvirt_strict_guard_policies(string policy, int exit, string line, string? xml)
    {
        var run = _bin.Hook(Domain(2, 3072), Libvirt(("numatune", "strict#0"), ("LARGEGUEST__NumaTune__StrictMemory",
            policy)));
        run.Result.Exit.Should().Be(exit);
        run.Result.StderrLines.Should().ContainSingle().Which.Should().StartWith(line);
        if (xml is null) run.Unchanged.Should().BeTrue();
        else run.XmlAfter.Should().Contain($"<memory {xml}/>");
    }

    [Fact]
    public void Libvirt_strict_guard_per_cell()
    {
        // Cell 0 (1 MiB) fits node 0 (2 MiB free); cell 1 (5 MiB) does not fit node 1 (4 MiB free).
        var run = _bin.Hook(Domain(2, 6144), Libvirt(("guestnuma", "0#1M#0,1#5M#1"), ("numatune", "strict#0-1"),
            ("LARGEGUEST__NumaTune__StrictMemory", "prefer")));
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        run.Result.StderrLines.Should().HaveCount(2);
        run.Result.StderrLines
            .Should().ContainSingle(l => l.StartsWith("largeguest: note: guestnuma: strict binding: cell 1 needs " +
            "5120 KiB (5 MiB) but node 1 has 4096 KiB (4 MiB) free of 4 GiB; rewritten to preferred"));
        // The guest-wide strict#0-1 fits and stays: it bounds where the relaxed cell can spill.
        run.Result.StderrLines
            .Should().ContainSingle(l => l.StartsWith("largeguest: warning: guestnuma: cell 1 is relaxed to " +
            "preferred, but the guest-wide strict binding on nodes 0-1 stays"));
        run.XmlAfter.Should().Contain("<memnode cellid='0' mode='strict' nodeset='0'/>").And
            .Contain("<memnode cellid='1' mode='preferred' nodeset='1'/>");
    }

    [Fact]
    public void Libvirt_source_that_cannot_connect_is_an_error_with_libvirts_message()
    {
        var run = _bin.Hook(Domain(2, 2048), Libvirt(("cputune", "0#0"), ("LARGEGUEST__Topology__LibvirtUri",
            "nosuchdriver:///x")));
        RefusedWithOneLine(run, "topology: libvirt: cannot open nosuchdriver:///x: ");
    }

    [Fact]
    public void Auto_source_falls_back_to_sysfs_with_one_note()
    {
        var run = _bin.Hook(Domain(2, 2048), Sysfs(("cputune", "0#0"), ("LARGEGUEST__Topology__Source", "auto"),
            ("LARGEGUEST__Topology__LibvirtUri", "nosuchdriver:///x")));
        run.Result.Exit.Should().Be(0);
        run.Result.StderrLines.Should().ContainSingle().Which.Should()
            .StartWith("largeguest: note: topology: libvirt unavailable (libvirt: cannot open nosuchdriver:///x: ")
                .And.EndWith($"; using sysfs {_sysfs.Root}");
    }

    [Fact]
    public void Auto_source_uses_libvirt_when_it_answers()
    {
        // CPU 12 exists in test:///default but not in the sysfs fixture: accepted only if libvirt was asked.
        var run = _bin.Hook(Domain(2, 2048), Sysfs(("cputune", "0#12"), ("LARGEGUEST__Topology__Source", "auto"),
            ("LARGEGUEST__Topology__LibvirtUri", LibvirtBindingTests.TestUri)));
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        run.Result.Stderr.Should().BeEmpty();
    }

    // ksm_merge_across_nodes needs no topology either, but a hook run with it reconciles the real host
    // KSM, so that case lives with the serialized real-KSM tests (Ksm/KsmHookProcessTests).
    [Theory]
    [InlineData("guestnuma", "0-1#2M")]
    public void No_topology_is_read_when_no_property_needs_the_host(string property, string value)
    {
        // An unreachable libvirt and a missing sysfs root would both fail if anything were read.
        var run = _bin.Hook(Domain(2, 2048), new Dictionary<string, string>
        {
            [property] = value,
            ["LARGEGUEST__Topology__Source"] = "libvirt",
            ["LARGEGUEST__Topology__LibvirtUri"] = "nosuchdriver:///x",
            ["LARGEGUEST__Topology__SysfsRoot"] = "/nonexistent",
        });
        run.Result.Stderr.Should().NotContain("topology").And.NotContain("libvirt").And.NotContain("sysfs");
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
    }

    // ---- numatune=auto ----

    [Fact]
    public void Numatune_auto_without_numad_is_refused()
    {
        RefusedWithOneLine(_bin.Hook(Domain(2, 2048), Sysfs(("numatune", "auto"), ("LARGEGUEST__Topology__NumadPath",
            "/nonexistent/numad"))),
            "numatune: auto placement needs numad, but /nonexistent/numad does not exist (Topology:NumadPath) " +
                "(expected: numad installed");
    }

    [Fact]
    public void Numatune_auto_with_numad_asks_libvirt_for_automatic_placement_and_validates()
    {
        var numad = Path.Combine(_bin.Dir, "numad");
        File.WriteAllText(numad, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(numad, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var run = _bin.Hook(Domain(2, 2048), Sysfs(("numatune", "auto"), ("LARGEGUEST__Topology__NumadPath", numad)));
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        run.XmlAfter.Should().Contain("<vcpu placement='auto'>2</vcpu>").And
            .Contain("<memory mode='strict' placement='auto'/>");
        Validate(run.XmlAfter);
        var check = _bin.Cli(Sysfs(), "check", "numatune=auto");
        check.Exit.Should().Be(0, check.Stderr);
        check.Stdout.Should().Be("numatune=auto\n  numad chooses the host nodes and CPUs at start (<vcpu " +
            "placement='auto'>, strict memory on its choice)\n");
    }

    // ---- admin commands ----

    [Fact]
    public void An_unknown_command_is_named_alone_with_the_commands_there_are()
    {
        var r = _bin.Cli(Sysfs(), "bogus");
        r.Exit.Should().Be(2);
        r.Stderr.Should().Be("largeguest: error: unknown command 'bogus' (commands: check, apply, topology, suggest, " +
            "ksm)\n"
            + "largeguest: see 'largeguest --help'\n");
        var known = _bin.Cli(Sysfs(), "topology", "--bogus");
        known.Exit.Should().Be(2);
        known.Stderr.Should().Contain("'--bogus'", "inside a command the parser's own message names the token");
    }

    [Fact]
    public void Topology_prints_the_sysfs_model()
    {
        var r = _bin.Cli(Sysfs(), "topology");
        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().Contain($"source: sysfs {_sysfs.Root}")
            .And.Contain("nodes: 0-2 (with memory: 0-1)   CPUs: 0-8 (online: 0-6,8)")
            .And.Contain("node 1: CPUs 2-3,6-7 (offline: 7); memory 16 GiB, 12 GiB free")
            .And.Contain("node 2: CPUs 8; no memory")
            .And.Contain("  huge pages 2 MiB: 512 configured, 256 free")
            .And.Contain("  socket 0 core 0: CPU 0,4");
    }

    [Fact]
    public void Topology_json_is_the_model()
    {
        var r = _bin.Cli(Sysfs(), "topology", "--json");
        r.Exit.Should().Be(0, r.Stderr);
        using var json = JsonDocument.Parse(r.Stdout);
        var nodes = json.RootElement.GetProperty("nodes");
        nodes.GetArrayLength().Should().Be(3);
        nodes[1].GetProperty("memory_free_kib").GetInt64().Should().Be(12 * GiB);
        var cpu7 = nodes[1].GetProperty("cpus").EnumerateArray().Single(c => c.GetProperty("id").GetInt32() == 7);
        cpu7.GetProperty("online").GetBoolean().Should().BeFalse();
        cpu7.GetProperty("core").ValueKind.Should().Be(JsonValueKind.Null);
        nodes[0].GetProperty("cpus")[0].GetProperty("siblings").GetString().Should().Be("0,4");
        nodes[0].GetProperty("huge_pages")[0].GetProperty("size_kib").GetInt64().Should().Be(2048);
    }

    [Fact]
    public void Topology_from_libvirt_test_driver()
    {
        var r = _bin.Cli(Libvirt(), "topology");
        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().Contain("source: libvirt test:///default").And
            .Contain("node 1: CPUs 8-15; memory 4 GiB, 4 MiB free");
    }

    [Fact]
    public void Topology_with_a_bad_sysfs_root_is_an_error()
    {
        var r = _bin.Cli(Sysfs(("LARGEGUEST__Topology__SysfsRoot", "/nonexistent")), "topology");
        r.Exit.Should().Be(2);
        r.Stderr.Should().Be("largeguest: error: sysfs: /nonexistent/devices/system/node does not exist (not a sysfs " +
            "root, or a kernel without NUMA support)\n");
    }

    [Fact]
    public void Suggest_output_goes_through_the_hook_on_the_test_driver_and_validates()
    {
        // 12 vCPUs and 5 MiB: more than one test-driver node holds (8 CPUs, 2 and 4 MiB free), so two cells.
        var r = _bin.Cli(Libvirt(), "suggest", "--vcpus", "12", "--memory", "5M");
        r.Exit.Should().Be(0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Select(l => l.Split('=')[0]).Should().Equal("cputune", "numatune", "guestnuma");
        lines[2].Should().Be("guestnuma=0-5#2M#0,6-11#3M#1");
        var env = Libvirt(("LARGEGUEST__NumaTune__StrictMemory", "fail"));
        foreach (var line in lines) env[line.Split('=', 2)[0]] = line.Split('=', 2)[1];
        var run = _bin.Hook(Domain(12, 5120, type: "test", arch: "i686"), env);
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        run.Result.Stderr.Should().BeEmpty();
        run.XmlAfter.Should().Contain("<cell id='1' cpus='6-11' memory='3072' unit='KiB'/>").And
            .Contain("<memnode cellid='0' mode='interleave' nodeset='0'/>");
        Validate(run.XmlAfter);
        // libvirt's own parser, on the host the suggestion was made for.
        var file = Path.Combine(_bin.Dir, "suggested.xml");
        File.WriteAllText(file, run.XmlAfter);
        LibvirtBindingTests.Run("virsh", "-c", LibvirtBindingTests.TestUri, $"define {file}; dumpxml lg-topology")
            .Should().Contain("<vcpupin vcpu='11' cpuset='13'/>").And
                .Contain("<memnode cellid='1' mode='interleave' nodeset='1'/>");
    }

    [Fact]
    public void Suggest_with_sockets_and_io_threads_goes_through_the_hook_and_libvirt_keeps_the_iothreadpins()
    {
        // 12 vCPUs in 6 sockets of 2, 2 I/O threads: each test-driver node (8 CPUs) keeps one CPU free of vCPUs, so 6 +
        // 6.
        var r = _bin.Cli(Libvirt(), "suggest", "--vcpus", "12", "--memory", "5M", "--sockets", "6", "--io-threads",
            "2");
        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().Be("cputune=0#0,1#1,2#2,3#3,4#4,5#5,6#8,7#9,8#10,9#11,10#12,11#13," +
            "emulator#6-7,14-15,iothread1#6,iothread2#14\n" +
            "numatune=interleave#0-1\nguestnuma=0-5#2M#0,6-11#3M#1\n");
        r.Stderr.Should().Contain("the VM needs <iothreads>2</iothreads>");
        var env = Libvirt(("LARGEGUEST__NumaTune__StrictMemory", "fail"), ("LARGEGUEST__GuestNuma__TopologyMismatch",
            "fail"));
        foreach (var line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)) env[line.Split('=',
            2)[0]] = line.Split('=', 2)[1];
        var domain = Domain(12, 5120, type: "test", arch: "i686")
            .Replace("</vcpu>", "</vcpu>\n  <iothreads>2</iothreads>")
            .Replace("</os>", "</os>\n  <cpu>\n    <topology sockets='6' cores='2' threads='1'/>\n  </cpu>");
        var run = _bin.Hook(domain, env);
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        run.Result.Stderr.Should().BeEmpty();
        Validate(run.XmlAfter);
        var file = Path.Combine(_bin.Dir, "suggested-io.xml");
        File.WriteAllText(file, run.XmlAfter);
        LibvirtBindingTests.Run("virsh", "-c", LibvirtBindingTests.TestUri, $"define {file}; dumpxml lg-topology")
            .Should().Contain("<iothreadpin iothread='1' cpuset='6'/>").And
                .Contain("<iothreadpin iothread='2' cpuset='14'/>")
            .And.Contain("<emulatorpin cpuset='6-7,14-15'/>");
        // The same cells on a guest with sockets of 4 split socket 1: refused under TopologyMismatch=fail, file
        // untouched.
        var split = _bin.Hook(domain.Replace("sockets='6' cores='2'", "sockets='3' cores='4'"), env);
        RefusedWithOneLine(split, "guestnuma: guest socket 1 (vCPUs 4-7 of <topology sockets='3' cores='4' " +
            "threads='1'/>) is split across cells: vCPUs 4-5 in cell 0, vCPUs 6-7 in cell 1");
    }

    [Fact]
    public void Suggest_on_sysfs_keeps_thread_siblings_together()
    {
        var r = _bin.Cli(Sysfs(), "suggest", "--vcpus", "4", "--memory", "8G");
        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().Be("cputune=0#0,1#4,2#1,3#5\nnumatune=preferred#0\nguestnuma=0-3#8G#0\n");
        r.Stderr.Should().Contain("largeguest: note: as one custom-property string: " +
            "cputune=0#0,1#4,2#1,3#5;numatune=preferred#0;guestnuma=0-3#8G#0");
        r.Stderr.Should().Contain("largeguest: note: engine CPU pinning string (CPU Pinning Policy \"Manual\", VM " +
            "pinned to its hosts): 0#0_1#4_2#1_3#5\n");
        var domain = Path.Combine(_bin.Dir, "suggest-check.xml");
        File.WriteAllText(domain, Domain(4, 8 * GiB));
        var check = _bin.Cli(Sysfs(), "check", "cputune=0#0,1#4,2#1,3#5;numatune=preferred#0;guestnuma=0-3#8G#0",
            "--domain", domain);
        check.Exit.Should().Be(0, check.Stderr);
        check.Stdout.Should().Contain("fits domain suggest-check.xml");
        var env = Sysfs(("cputune", "0#0,1#4,2#1,3#5"), ("numatune", "preferred#0"), ("guestnuma", "0-3#8G#0"));
        var run = _bin.Hook(Domain(4, 8 * GiB), env);
        run.Result.Exit.Should().Be(0, run.Result.Stderr);
        Validate(run.XmlAfter);
    }

    [Fact]
    public void Preferred_on_several_nodes_follows_this_host_s_libvirt_and_kernel()
    {
        // The answer comes from this machine's real libvirt library and kernel; virsh (same libvirt) and uname say
        // independently what it must be.
        LibvirtBindingTests.RequireLibvirt();
        var libvirt = Version.Parse(LibvirtBindingTests.Run("virsh", "--version").Trim());
        var kernel = Version.Parse(System.Text.RegularExpressions.Regex.Match(
            File.ReadAllText("/proc/sys/kernel/osrelease"), @"^\d+\.\d+").Value);
        var supported = libvirt >= new Version(9, 3) && kernel >= new Version(5, 15);
        PreferredMany.Probe().Supported.Should().Be(supported);
        PreferredMany.KernelHasPreferredMany()
            .Should().Be(kernel >= new Version(5, 15), "MPOL_PREFERRED_MANY is in Linux from 5.15");
        var topology = _bin.Cli(Sysfs(), "topology");
        topology.Exit.Should().Be(0, topology.Stderr);
        topology.Stdout.Should()
            .Contain($"\npreferred on several nodes: {(supported ? "yes" : "no")} (libvirt {libvirt}");

        var run = _bin.Hook(Domain(4, 8 * GiB), Sysfs(("numatune", "preferred#0-1")));
        if (supported)
        {
            run.Result.Exit.Should().Be(0, run.Result.Stderr);
            run.XmlAfter.Should().Contain("<memory mode='preferred' nodeset='0-1'/>");
            return;
        }
        run.Result.Exit.Should().Be(2);
        run.Result.Stderr.Should().StartWith($"largeguest: error: numatune: preferred on nodes 0-1: libvirt {libvirt}");
        run.XmlAfter.Should().Be(Domain(4, 8 * GiB), "a refusal leaves the file byte-identical");
        var relaxed = _bin.Hook(Domain(4, 8 * GiB), Sysfs(("numatune", "0-1"),
            ("LARGEGUEST__NumaTune__PreferredManyNodes", "interleave")));
        relaxed.Result.Exit.Should().Be(0, relaxed.Result.Stderr);
        relaxed.Result.Stderr.Should().Contain("rewritten to interleave#0-1");
        relaxed.XmlAfter.Should().Contain("<memory mode='interleave' nodeset='0-1'/>");
        Validate(relaxed.XmlAfter);
    }

    [Theory]
    [InlineData("none", 2, "largeguest: error: cputune: the VM's CPU Pinning Policy is 'none': VDSM moves vCPUs 0-3 " +
        "back to the host's shared CPU pool")]
    [InlineData("dedicated", 2, "largeguest: error: cputune: the VM's CPU Pinning Policy is 'dedicated'")]
    [InlineData("manual", 0, "")]
    public void Check_and_apply_with_a_domain_know_VDSM_s_CPU_management(string policy, int exit, string stderr)
    {
        var domain = Path.Combine(_bin.Dir, $"policy-{policy}.xml");
        var xml = Domain(4, 8 * GiB).Replace("</domain>", $"""
              <metadata>
                <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0"><ovirt-vm:cpuPolicy>{policy}</ovirt-vm:cpuPolicy></ovirt-vm:vm>
              </metadata>
            </domain>
            """);
        File.WriteAllText(domain, xml);
        var check = _bin.Cli(Sysfs(), "check", "cputune=0-3#0-1", "--domain", domain);
        check.Exit.Should().Be(exit, check.Stderr);
        check.Stderr.Should().StartWith(stderr);
        var apply = _bin.Cli(Sysfs(), "apply", domain, "--set", "cputune=0-3#0-1");
        apply.Exit.Should().Be(exit, apply.Stderr);
        apply.Stderr.Should().StartWith(stderr);
        File.ReadAllText(domain).Contains("<vcpupin")
            .Should().Be(exit == 0, "apply replaces the file only when the pins last");
        var warned = _bin.Cli(Sysfs(("LARGEGUEST__CpuTune__SharedPolicy", "warn")), "check", "cputune=0-3#0-1",
            "--domain", domain);
        warned.Exit.Should().Be(policy == "dedicated" ? 2 : 0, warned.Stderr);
    }

    [Theory]
    [InlineData(new[] { "--vcpus", "9", "--memory", "1G" }, "largeguest: error: suggest: 9 vCPUs need 9 online host " +
        "CPUs (one each), but all usable nodes together (node 0-1) have 7")]
    [InlineData(new[] { "--vcpus", "2", "--memory", "1X" }, "largeguest: error: --memory: bad size '1X': unknown " +
        "unit 'X'")]
    [InlineData(new[] { "--vcpus", "2", "--memory", "1G", "--cells", "3" }, "largeguest: error: suggest: --cells 3: " +
        "the host has 2 usable NUMA node(s)")]
    public void Suggest_errors_are_one_line_and_exit_2(string[] args, string message)
    {
        var r = _bin.Cli(Sysfs(), ["suggest", .. args]);
        r.Exit.Should().Be(2);
        r.Stderr.Should().StartWith(message);
        r.Stdout.Should().BeEmpty();
    }

    /// <summary>libvirt's own schema check of a rewritten domain.</summary>
    internal static void Validate(string xml)
    {
        var file = Path.Combine(Path.GetTempPath(), $"lg-validate-{Guid.NewGuid():N}.xml");
        File.WriteAllText(file, xml);
        try
        {
            var psi = new ProcessStartInfo("virt-xml-validate", [file, "domain"]) { RedirectStandardOutput = true,
                RedirectStandardError = true };
            Process p;
            try { p = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("virt-xml-validate " +
                "is missing (Debian package libvirt-clients; run 'make deps'): " + e.Message); }
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            p.ExitCode.Should().Be(0, $"virt-xml-validate must accept the rewritten domain: {output}\n{xml}");
        }
        finally { File.Delete(file); }
    }
}
