using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.E2E;

/// <summary>
/// The product on a host with two real NUMA nodes (docs/e2e.md, "The NUMA test host"): the published hook runs
/// inside the test host as VDSM runs it, against that kernel's sysfs and KSM and a private libvirtd there; each
/// case is then checked from that kernel's side (/proc/PID/status, /proc/PID/numa_maps, QEMU's argv, KSM counters).
/// The expectations are written by hand from the properties and the host's layout, never from the hook's output.
/// </summary>
[Collection(NumaHostCollection.Name)]
public sealed class NumaHostTests(TwoNodeHost host, ITestOutputHelper output) : IClassFixture<TwoNodeHost>, IDisposable
{
    private readonly List<string> _guests = [];

    /// <summary>xunit makes one instance per test: the guests of that test go when it ends.</summary>
    public void Dispose()
    {
        foreach (var g in _guests) host.Remove(g);
    }

    private const long PageBytes = 4096;

    [Fact]
    public void Topology_from_sysfs_and_libvirt_shows_the_two_nodes() => NumaTopology.Check(host, output);

    [Fact]
    public void Strict_on_node_1_confines_every_thread_and_every_guest_page_to_node_1() => Case("strict#1", checks =>
    {
        var (name, qemu, maps) = Boot("legacy-interleave", 256, new() { ["numatune"] = "strict#1" }, checks);
        foreach (var t in qemu.Threads)
            checks.Equal("1", t.MemsAllowed, $"kernel Mems_allowed_list of '{t.Name}' (tid {t.Tid})");
        CheckBackend(checks, qemu, "pc.ram", "1", "bind");
        var ram = RamMapping(checks, maps, 256);
        if (ram is not null)
        {
            checks.Equal(256 * 1024 * 1024 / PageBytes, ram.PagesOnNode.GetValueOrDefault(1), $"numa_maps: guest RAM " +
                $"pages on N1 ({ram})");
            checks.Equal(0L, ram.PagesOnNode
                .Where(kv => kv.Key != 1).Sum(kv => kv.Value), $"numa_maps: guest RAM pages on other nodes ({ram})");
            checks.Equal("bind:1", ram.Policy, "numa_maps: the kernel's policy of the guest RAM");
        }
        CheckNumatune(checks, name, "strict", "1");
    });

    [Fact]
    public void Interleave_over_both_nodes_spreads_the_guest_pages_over_both() => Case("interleave#0-1", checks =>
    {
        var (name, qemu, maps) = Boot("legacy-interleave", 256, new() { ["numatune"] = "interleave#0-1" }, checks);
        CheckBackend(checks, qemu, "pc.ram", "0-1", "interleave");
        var ram = RamMapping(checks, maps, 256);
        if (ram is not null)
        {
            checks.Equal("interleave:0-1", ram.Policy, "numa_maps: the kernel's policy of the guest RAM");
            var pages = 256 * 1024 * 1024 / PageBytes;
            foreach (var node in new[] { 0, 1 })
                checks.True(ram.PagesOnNode.GetValueOrDefault(node) >= pages * 4 / 10, $"numa_maps: at least 40 % of " +
                    $"the guest RAM on N{node}", ram.ToString());
        }
        CheckNumatune(checks, name, "interleave", "0-1");
    });

    [Fact]
    public void Guest_cells_with_their_own_host_node_get_backends_on_those_nodes() => Case("guestnuma cells #0 #1",
        checks =>
    {
        var properties = new Dictionary<string, string>
        {
            ["cputune"] = "0-1#0,2-3#1",
            ["guestnuma"] = "0-1#256M#0,2-3#256M#1",
            ["numatune"] = "strict#0-1",
        };
        var (name, qemu, maps) = Boot("sap-cells", 512, properties, checks);
        foreach (var t in qemu.Threads.Where(t => t.VcpuId is not null))
            checks.Equal(t.VcpuId < 2 ? "0" : "1", t.CpusAllowed.ToString(), $"kernel Cpus_allowed_list of " +
                $"'{t.Name}': the CPU of its cell's node");
        for (var cell = 0; cell < 2; cell++)
        {
            var node = qemu.NumaNodes.FirstOrDefault(n => n.NodeId == cell);
            if (!checks.True(node is not null, $"QEMU argv has -numa node,nodeid={cell}")) continue;
            checks.Equal(cell == 0 ? "0-1" : "2-3", node!.Cpus.ToString(), $"-numa node,nodeid={cell} cpus");
            CheckBackend(checks, qemu, node.Memdev, cell.ToString(CultureInfo.InvariantCulture), "bind");
            var ram = maps.Mappings.FirstOrDefault(m =>
                m.Anon == 256 * 1024 * 1024 / PageBytes && m.Policy == $"bind:{cell}");
            if (checks.True(ram is not null, $"numa_maps: a 256 MiB mapping bound to node {cell} (cell {cell}'s RAM)",
                    string.Join("; ", maps.Mappings.Where(m => m.Anon > 1000))))
            {
                checks.Equal(ram!.Anon, ram.PagesOnNode.GetValueOrDefault(cell), $"numa_maps: cell {cell}'s pages on " +
                    $"N{cell} ({ram})");
                checks.Equal(ram.Anon, ram.Pages, $"numa_maps: cell {cell}'s pages on no other node ({ram})");
            }
        }
        var memnodes = host.VirshOk("dumpxml", name);
        checks.True(memnodes.Contains("<memnode cellid='0' mode='strict' nodeset='0'/>")
            && memnodes.Contains("<memnode cellid='1' mode='strict' nodeset='1'/>"),
            "libvirt's live XML: memnode cell 0 -> node 0, cell 1 -> node 1");
    });

    [Theory]
    [InlineData("warn")]
    [InlineData("prefer")]
    [InlineData("fail")]
    public void Strict_memory_guard_uses_the_free_memory_of_that_kernels_node_1(string policy) =>
        Case($"strict guard {policy}", checks =>
    {
        // 1.5 GiB bound to node 1, which has 1 GiB: more than the node can ever have free.
        const long guestKiB = 1536 * 1024;
        var xml = GuestXml("legacy-interleave", "lg-guard", Guid.NewGuid().ToString(), guestKiB / 1024,
            prealloc: false);
        var before = NodeFreeKiB(1);
        var run = host.Hook("before_vm_start", xml, new Dictionary<string, string> { ["numatune"] = "strict#1" },
            Guid.NewGuid().ToString(),
            new Dictionary<string, string> { ["LARGEGUEST__NumaTune__StrictMemory"] = policy,
                ["LARGEGUEST__Topology__Source"] = "sysfs" });
        var after = NodeFreeKiB(1);
        output.WriteLine($"StrictMemory={policy}: {run}; node 1 MemFree {before} KiB before, {after} KiB after");
        var line = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        checks.Equal(1, line.Length, "one line on stderr");
        var m = Regex.Match(run.Stderr, @"the guest needs (\d+) KiB .* but node 1 has (\d+) KiB \([^)]*\) free of");
        if (checks.True(m.Success, "the message shows what the guest needs and node 1's free memory",
            run.Stderr.Trim()))
        {
            checks.Equal(guestKiB.ToString(CultureInfo.InvariantCulture), m.Groups[1].Value, "the guest's memory in " +
                "the message (KiB)");
            var shown = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            // The kernel's own number, read just before and after the hook (it moves by a few pages meanwhile).
            checks.True(shown >= Math.Min(before, after) - 4096 && shown <= Math.Max(before, after) + 4096,
                "node 1's free memory in the message is the kernel's (node1/meminfo MemFree, within 4 MiB)",
                $"message {shown} KiB, kernel {before}..{after} KiB");
        }
        switch (policy)
        {
            case "warn":
                checks.Equal(0, run.ExitCode, "warn: exit 0");
                checks.True(run.Stderr.StartsWith("largeguest: warning: numatune:", StringComparison.Ordinal),
                    "warn: a warning", run.Stderr);
                checks.True(run.XmlText.Contains("mode=\"strict\" nodeset=\"1\""), "warn: the binding stays strict " +
                    "on node 1");
                break;
            case "prefer":
                checks.Equal(0, run.ExitCode, "prefer: exit 0");
                checks.True(run.Stderr.StartsWith("largeguest: note: numatune:", StringComparison.Ordinal),
                    "prefer: a note", run.Stderr);
                checks.True(run.XmlText.Contains("mode=\"preferred\" nodeset=\"1\""), "prefer: rewritten to " +
                    "preferred on node 1", Numatune(run.XmlText));
                break;
            default:
                checks.Equal(2, run.ExitCode, "fail: exit 2");
                checks.True(run.Stderr.StartsWith("largeguest: error: numatune:", StringComparison.Ordinal),
                    "fail: an error", run.Stderr);
                checks.True(run.Xml.AsSpan().SequenceEqual(xml), "fail: the domain XML is byte-identical");
                break;
        }
    });

    /// <summary>
    /// Multi-node <c>preferred</c> on this libvirt (9.0) and QEMU (7.2), given to libvirt directly (not through the
    /// hook): libvirt starts the guest and passes both nodes, and the kernel prefers the first node only. The product's
    /// relaxation of a multi-node binding is <c>interleave</c>, which the kernel does apply over both nodes (the
    /// interleave case above boots it). The 3 GiB guest is only rewritten, not started: this 2 GiB test host's kernel
    /// refuses a 3 GiB guest RAM mapping (overcommit heuristic).
    /// </summary>
    [Fact]
    public void Multi_node_preferred_on_libvirt_9_0_prefers_only_the_first_node_and_the_relaxation_is_interleave() =>
        Case("preferred#0-1", checks =>
        {
            var name = $"lg-pref-{Guid.NewGuid().ToString()[..8]}";
            var xml = System.Text.Encoding.UTF8.GetString(GuestXml("legacy-interleave", name,
                Guid.NewGuid().ToString(), 256, prealloc: true))
                .Replace("  <os>", "  <numatune>\n    <memory mode=\"preferred\" nodeset=\"0-1\" />\n  </numatune>\n " +
                    " <os>");
            var libvirtVersion = host.VirshOk("version").Split('\n').FirstOrDefault(l => l.Contains("libvirt",
                StringComparison.Ordinal))?.Trim();
            output.WriteLine($"inner libvirt: {libvirtVersion}");
            var (qemu, maps) = Start(name, System.Text.Encoding.UTF8.GetBytes(xml), checks);
            CheckBackend(checks, qemu, "pc.ram", "0-1", "preferred");
            var ram = RamMapping(checks, maps, 256);
            if (ram is not null)
            {
                checks.Equal("prefer:0", ram.Policy, "numa_maps: the kernel prefers node 0 only (MPOL_PREFERRED on " +
                    "the first node)");
                checks.Equal(ram.Anon, ram.PagesOnNode.GetValueOrDefault(0), $"numa_maps: every guest page on N0 " +
                    $"({ram})");
            }
            CheckNumatune(checks, name, "preferred", "0-1");

            // The product: a strict binding over both nodes that does not fit, NumaTune:StrictMemory=prefer.
            var big = GuestXml("legacy-interleave", "lg-relax", Guid.NewGuid().ToString(), 3072, prealloc: false);
            var run = host.Hook("before_vm_start", big, new Dictionary<string, string> { ["numatune"] = "strict#0-1" },
                Guid.NewGuid().ToString(),
                new Dictionary<string, string> { ["LARGEGUEST__NumaTune__StrictMemory"] = "prefer",
                    ["LARGEGUEST__Topology__Source"] = "sysfs" });
            output.WriteLine($"strict#0-1, 3 GiB, prefer: {run}");
            checks.Equal(0, run.ExitCode, "relaxation: exit 0");
            checks.True(run.XmlText.Contains("mode=\"interleave\" nodeset=\"0-1\""), "relaxation: strict#0-1 becomes " +
                "interleave over 0-1, not preferred",
                Numatune(run.XmlText));

            // The product's decision on preferred#0-1 itself matches what libvirt 9.0 does with it (docs/topology.md):
            // refused by default, naming this libvirt; rewritten to interleave when NumaTune:PreferredManyNodes says
            // so.
            var small = GuestXml("legacy-interleave", "lg-pref-hook", Guid.NewGuid().ToString(), 256, prealloc: false);
            var refused = host.Hook("before_vm_start", small, new Dictionary<string,
                string> { ["numatune"] = "preferred#0-1" }, Guid.NewGuid().ToString(),
                new Dictionary<string, string> { ["LARGEGUEST__Topology__Source"] = "sysfs" });
            output.WriteLine($"preferred#0-1 through the hook: {refused}");
            checks.Equal(2, refused.ExitCode, "hook: preferred#0-1 refused (exit 2) on libvirt 9.0");
            checks.True(refused.Stderr.StartsWith("largeguest: error: numatune: preferred on nodes 0-1: libvirt " +
                "9.0.0 does not apply it: the kernel would prefer only the first node",
                StringComparison.Ordinal), "hook: the refusal says what libvirt 9.0 really does",
                    refused.Stderr.Trim());
            checks.True(refused.Xml.AsSpan().SequenceEqual(small), "hook: the refused domain XML is byte-identical");
            var interleaved = host.Hook("before_vm_start", small, new Dictionary<string,
                string> { ["numatune"] = "0-1" }, Guid.NewGuid().ToString(),
                new Dictionary<string, string> { ["LARGEGUEST__Topology__Source"] = "sysfs",
                    ["LARGEGUEST__NumaTune__PreferredManyNodes"] = "interleave" });
            checks.Equal(0, interleaved.ExitCode, "hook: PreferredManyNodes=interleave exits 0");
            checks.True(interleaved.XmlText.Contains("mode=\"interleave\" nodeset=\"0-1\""), "hook: a bare 0-1 " +
                "(default mode preferred) becomes interleave#0-1",
                Numatune(interleaved.XmlText));
            checks.True(interleaved.Stderr.Contains("rewritten to interleave#0-1", StringComparison.Ordinal),
                "hook: with a warning", interleaved.Stderr.Trim());
        });

    /// <summary>
    /// NUMA-aware KSM on real nodes: identical pages bound to node 0 and to node 1
    /// (scripts/e2e/numa-host/ksm-pages.py). With merge_across_nodes=1 ksmd merges them into one stable page; the
    /// hook's switch to 0 (refused first when the unmerge would not fit the memory reserve, by that kernel's numbers)
    /// unmerges, writes 0 and restores run, and ksmd then keeps one stable page per node; a later VM asking 1 switches
    /// the host back.
    /// </summary>
    [Fact]
    public void Ksm_merges_across_nodes_until_the_hook_switches_to_one_stable_page_per_node() =>
        Case("ksm merge_across_nodes", checks =>
    {
        const int MiB = 96;
        const long perNode = MiB * 1024 * 1024 / PageBytes, all = 2 * perNode;
        const string ksm = "/sys/kernel/mm/ksm";
        string[] settings = ["run", "merge_across_nodes", "max_page_sharing", "pages_to_scan", "sleep_millisecs"];
        var saved = settings.ToDictionary(f => f, f => host.Read($"{ksm}/{f}").Trim());
        long Counter(string f) => long.Parse(host.Read($"{ksm}/{f}").Trim(), CultureInfo.InvariantCulture);
        var config = new Dictionary<string, string> { ["LARGEGUEST__Ksm__StateDir"] = "/tmp/ksm-state",
            ["LARGEGUEST__Topology__Source"] = "sysfs" };
        var vmA = Guid.NewGuid().ToString();
        var xml = GuestXml("legacy-interleave", "lg-ksm", vmA, 256, prealloc: false);
        try
        {
            // max_page_sharing first (only writable while nothing is shared): at the default 256 sharers per stable
            // page, ksmd would need many stable pages even across nodes and the difference would not show.
            host.RunOk($"cd {ksm} && echo 2 > run && echo 1 > merge_across_nodes && echo 100000 > max_page_sharing " +
                $"&& echo 20000 > pages_to_scan && echo 0 > sleep_millisecs");
            host.RunOk($"setsid python3 " +
                $"{Cmd.Quote(Path.Combine(Support.PublishedBinary.RepoRoot, "scripts/e2e/numa-host/ksm-pages.py"))} " +
                $"{MiB} 0 1 >/tmp/ksm-pages.out 2>&1 </dev/null & " +
                "echo $! >/tmp/ksm-pages.pid; for i in $(seq 300); do grep -q ready /tmp/ksm-pages.out && exit 0; " +
                    "sleep 0.2; done; cat /tmp/ksm-pages.out; exit 1");
            var maps = NumaMaps.Parse(host.RunOk("cat /proc/$(cat /tmp/ksm-pages.pid)/numa_maps").Split('\n'));
            foreach (var node in new[] { 0, 1 })
                checks.True(maps.Mappings.Any(m =>
                        m.Anon == perNode && m.PagesOnNode.GetValueOrDefault(node) == perNode && m.Pages == perNode),
                    $"numa_maps of the helper: {MiB} MiB wholly on N{node}", string.Join("; ", maps.Mappings
                        .Where(m => m.Anon > 1000)));

            host.RunOk($"echo 1 > {ksm}/run");
            WaitForMerge(checks, 1, all - 1, "merge_across_nodes=1: one stable page for both nodes");

            // The memory check: with 90 % of MemAvailable reserved the unmerge cannot fit (by this kernel's numbers).
            var sharing = Counter("pages_sharing");
            var available = long.Parse(Regex.Match(host.Read("/proc/meminfo"), @"MemAvailable:\s+(\d+) kB")
                .Groups[1].Value, CultureInfo.InvariantCulture);
            checks.True(sharing * PageBytes > available * 1024 / 10, "set-up: unmerging needs more than 10 % of " +
                "MemAvailable",
                $"{sharing} pages vs {available} KiB");
            var refused = host.Hook("before_vm_start", xml, new Dictionary<string,
                string> { ["ksm_merge_across_nodes"] = "0" }, vmA,
                new Dictionary<string, string>(config) { ["LARGEGUEST__Ksm__MemoryReservePercent"] = "90",
                    ["LARGEGUEST__Ksm__OnFailure"] = "fail" });
            output.WriteLine($"reserve 90 %: {refused}");
            checks.Equal(2, refused.ExitCode, "reserve 90 %, OnFailure=fail: exit 2");
            checks.True(refused.Stderr.StartsWith("largeguest: error: ksm_merge_across_nodes:",
                StringComparison.Ordinal), "reserve 90 %: one error line", refused.Stderr);
            checks.Equal("1", host.Read($"{ksm}/merge_across_nodes").Trim(), "refused: merge_across_nodes still 1");
            checks.Equal("1", host.Read($"{ksm}/run").Trim(), "refused: run still 1");
            checks.Equal(1L, Counter("pages_shared"), "refused: nothing unmerged (pages_shared 1)");

            var switched = host.Hook("before_vm_start", xml, new Dictionary<string,
                string> { ["ksm_merge_across_nodes"] = "0" }, vmA, config);
            output.WriteLine($"switch to 0: {switched}");
            checks.Equal(0, switched.ExitCode, "switch to 0: exit 0");
            var note = Regex.Match(switched.Stderr,
                @"merge_across_nodes 1 -> 0 .*unmerged (\d+) pages.* run restored to 1");
            checks.True(note.Success, "switch to 0: the note says 1 -> 0, pages unmerged, run restored to 1",
                switched.Stderr.Trim());
            if (note.Success)
                checks.True(Math.Abs(long.Parse(note.Groups[1].Value, CultureInfo.InvariantCulture) - all) <= 2,
                    "switch to 0: the unmerged pages are the shared ones", $"{note.Groups[1].Value} of {all}");
            checks.Equal("0", host.Read($"{ksm}/merge_across_nodes").Trim(), "switch to 0: merge_across_nodes 0");
            checks.Equal("1", host.Read($"{ksm}/run").Trim(), "switch to 0: run restored to 1");
            WaitForMerge(checks, 2, all - 2, "merge_across_nodes=0: one stable page per node");

            // The VM goes; another asks 1: nobody holds 0 any more, so the host switches back and merges across nodes
            // again.
            var destroyed = host.Hook("after_vm_destroy", xml, new Dictionary<string,
                string> { ["ksm_merge_across_nodes"] = "0" }, vmA, config);
            checks.Equal(0, destroyed.ExitCode, $"after_vm_destroy: exit 0 ({destroyed.Stderr.Trim()})");
            checks.Equal("0", host.Read($"{ksm}/merge_across_nodes").Trim(), "after_vm_destroy: KSM untouched (the " +
                "next start reconciles)");
            var back = host.Hook("before_vm_start", xml, new Dictionary<string,
                string> { ["ksm_merge_across_nodes"] = "1" }, Guid.NewGuid().ToString(), config);
            output.WriteLine($"switch back to 1: {back}");
            checks.Equal(0, back.ExitCode, "switch back to 1: exit 0");
            checks.Equal("1", host.Read($"{ksm}/merge_across_nodes").Trim(), "switch back to 1: merge_across_nodes 1");
            checks.Equal("1", host.Read($"{ksm}/run").Trim(), "switch back to 1: run restored to 1");
            WaitForMerge(checks, 1, all - 1, "merge_across_nodes=1 again: one stable page for both nodes");
        }
        finally
        {
            host.Run("kill $(cat /tmp/ksm-pages.pid) 2>/dev/null; rm -rf /tmp/ksm-state");
            host.Run($"cd {ksm} && echo 2 > run && " + string.Join(" && ", settings.Skip(1).Append("run")
                .Select(f => $"echo {saved[f]} > {f}")));
        }
    });

    /// <summary>Waits (up to 4 minutes: ksmd under TCG) until ksmd has merged every helper page, then checks the
    /// counters.</summary>
    private void WaitForMerge(E2EChecks checks, long shared, long sharing, string what)
    {
        var clock = Stopwatch.StartNew();
        var counters = host.RunOk($"cd /sys/kernel/mm/ksm; for i in $(seq 1200); do " +
            $"[ $(($(cat pages_shared) + $(cat pages_sharing))) -ge {shared + sharing} ] && [ $(cat pages_shared) " +
                $"-le {shared} ] && break; sleep 0.2; done; " +
            "echo $(cat pages_shared) $(cat pages_sharing)", TimeSpan.FromMinutes(5)).Trim().Split(' ');
        output.WriteLine($"{what}: pages_shared {counters[0]}, pages_sharing {counters[1]} after " +
            $"{clock.Elapsed.TotalSeconds:0.0} s");
        checks.Equal(shared.ToString(CultureInfo.InvariantCulture), counters[0], $"{what}: pages_shared");
        checks.Equal(sharing.ToString(CultureInfo.InvariantCulture), counters[1], $"{what}: pages_sharing");
    }

    // ---- helpers ----

    private void Case(string id, Action<E2EChecks> body)
    {
        var clock = Stopwatch.StartNew();
        var checks = new E2EChecks(id, output.WriteLine);
        try { body(checks); }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            host.Figures.CaseAborted($"{host.Name} {id}", e.Message);
            throw;
        }
        host.Figures.CaseDone($"{host.Name} {id}", checks, clock.Elapsed.TotalSeconds);
        checks.ThrowIfFailed();
    }

    /// <summary>The hook (before_vm_start, inside, topology from the inner libvirtd), then libvirt defines and starts
    /// the result; the guest is removed when the test ends.</summary>
    private (string Name, QemuProcess Qemu, NumaMaps Maps) Boot(string template, long mib, Dictionary<string,
        string> properties, E2EChecks checks)
    {
        var uuid = Guid.NewGuid().ToString();
        var name = $"lg-numa-{uuid[..8]}";
        output.WriteLine($"guest {name} ({template}, {mib} MiB, preallocated): " +
            $"{string.Join(";", properties.Select(kv => $"{kv.Key}={kv.Value}"))}");
        var run = host.Hook("before_vm_start", GuestXml(template, name, uuid, mib, prealloc: true), properties, uuid,
            new Dictionary<string, string> { ["LARGEGUEST__Topology__Source"] = "libvirt",
                ["LARGEGUEST__Topology__LibvirtUri"] = host.LibvirtUri });
        checks.Equal(0, run.ExitCode, $"before_vm_start exit code ({run.Stderr.Trim()})");
        checks.Equal("", run.Stderr.Trim(), "before_vm_start: nothing on stderr (the binding fits this host)");
        if (run.ExitCode != 0) throw new InvalidOperationException($"the hook refused the guest: {run}");
        var (qemu, maps) = Start(name, run.Xml, checks);
        return (name, qemu, maps);
    }

    /// <summary>virsh define + start inside; the running guest's QEMU as that kernel sees it.</summary>
    private (QemuProcess, NumaMaps) Start(string name, byte[] xml, E2EChecks checks)
    {
        var file = $"/tmp/{name}.xml";
        host.Write(file, xml);
        _guests.Add(name);
        var clock = Stopwatch.StartNew();
        host.VirshOk("define", file);
        host.VirshOk("start", name);
        host.Figures.GuestBooted(clock.Elapsed.TotalSeconds);
        output.WriteLine($"guest {name} started in {clock.Elapsed.TotalSeconds:0.0} s");
        checks.Equal("running", host.VirshOk("domstate", name).Trim(), "libvirt domain state");
        var (qemu, maps) = host.Qemu(name);
        checks.Equal("tcg", qemu.Accel, "inner QEMU accelerator (no KVM inside the test host)");
        return (qemu, maps);
    }

    private NumaMapping? RamMapping(E2EChecks checks, NumaMaps maps, long mib)
    {
        var pages = mib * 1024 * 1024 / PageBytes;
        var ram = maps.GuestRam(pages);
        checks.True(ram is not null, $"numa_maps: the preallocated {mib} MiB guest RAM mapping ({pages} anonymous " +
            $"pages)",
            string.Join("; ", maps.Mappings.Where(m => m.Anon > 1000)));
        return ram;
    }

    private static void CheckBackend(E2EChecks checks, QemuProcess qemu, string? id, string hostNodes, string policy)
    {
        var backend = qemu.Backend(id);
        if (!checks.True(backend is not null, $"QEMU argv: memory backend '{id}'")) return;
        checks.Equal(hostNodes, backend!.HostNodes?.ToString(), $"QEMU argv: backend '{id}' host-nodes");
        checks.Equal(policy, backend.Policy, $"QEMU argv: backend '{id}' policy");
    }

    private void CheckNumatune(E2EChecks checks, string name, string mode, string nodes)
    {
        var text = host.VirshOk("numatune", name);
        checks.True(Regex.IsMatch(text, $@"numa_mode\s*:\s*{mode}\b"), $"virsh numatune numa_mode {mode}", text);
        checks.True(Regex.IsMatch(text, $@"numa_nodeset\s*:\s*{Regex.Escape(nodes)}\s"),
            $"virsh numatune numa_nodeset {nodes}", text);
    }

    private long NodeFreeKiB(int node) => long.Parse(
        Regex.Match(host.Read($"/sys/devices/system/node/node{node}/meminfo"), @"MemFree:\s+(\d+) kB")
            .Groups[1].Value, CultureInfo.InvariantCulture);

    private static string Numatune(string xml) => Regex.Match(xml, "<numatune>.*?</numatune>",
        RegexOptions.Singleline).Value;

    /// <summary>One of the e2e suite's oVirt domains (E2E/Domains/) for the inner libvirt: TCG, the given memory, and
    /// with <paramref name="prealloc"/> every page allocated at start (libvirt's allocation mode immediate = QEMU
    /// prealloc), so numa_maps shows where the whole guest RAM went.</summary>
    public static byte[] GuestXml(string template, string name, string uuid, long mib, bool prealloc)
    {
        var xml = System.Text.Encoding.UTF8.GetString(GuestCases.Get(template).Xml(name, uuid, "qemu"));
        xml = Regex.Replace(xml, @"<(memory|currentMemory)>\d+</", m => $"<{m.Groups[1].Value}>{mib * 1024}</");
        if (prealloc)
            xml = xml.Replace("  <os>", "  <memoryBacking>\n    <allocation mode=\"immediate\" />\n  " +
                "</memoryBacking>\n  <os>");
        return System.Text.Encoding.UTF8.GetBytes(xml);
    }
}
