using System.Diagnostics;
using System.Text.Json;
using Largeguest.Ksm;
using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.Ksm;

/// <summary>
/// The published binary run the way VDSM runs it (as root here: the in-process path), against the real kernel.
/// KSM state goes to a temp LARGEGUEST__Ksm__StateDir; the fixture restores the host's KSM settings.
/// </summary>
[Collection(RealKsmCollection.Name)]
public sealed class KsmHookProcessTests : IDisposable
{
    private const string VmA = "3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11";
    private const string VmB = "3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7b22";
    private readonly ITestOutputHelper _out;
    private readonly VdsmHookRunner _vdsm = new();
    private readonly string _state = Directory.CreateTempSubdirectory("largeguest-ksm-state-").FullName;
    private readonly byte[] _xml = File.ReadAllBytes(KsmProcesses.SampleXml);
    /// <summary>A VM id of this test alone: the privileged entry's state directory is the host's, shared with other
    /// suites.</summary>
    private readonly string _own = Guid.NewGuid().ToString();

    public KsmHookProcessTests(RealKsm ksm, ITestOutputHelper output)
    {
        _ = ksm;
        _out = output;
        RealKsm.Baseline(mergeAcrossNodes: true, run: 0);
    }

    public void Dispose()
    {
        _vdsm.Dispose();
        Directory.Delete(_state, recursive: true);
    }

    private Dictionary<string, string> Config(params (string Key, string Value)[] more)
    {
        // The host topology is read from sysfs: these tests are about KSM, not about whether libvirtd runs here.
        var env = new Dictionary<string, string> { ["LARGEGUEST__Ksm__StateDir"] = _state,
            ["LARGEGUEST__Topology__Source"] = "sysfs" };
        foreach (var (k, v) in more) env[$"LARGEGUEST__Ksm__{k}"] = v;
        return env;
    }

    private HookRun Hook(string point, string vm, string ksm, (string, string)[]? properties = null, Dictionary<string,
        string>? config = null)
    {
        var props = new Dictionary<string, string> { ["ksm_merge_across_nodes"] = ksm };
        foreach (var (k, v) in properties ?? []) props[k] = v;
        return _vdsm.Run(point, _xml, props, vm, config ?? Config(), TimeSpan.FromMinutes(3));
    }

    /// <summary>The hook started directly (concurrency, SIGKILL): exactly the environment VDSM would give it.</summary>
    private Process StartHook(string vm, string ksm, string xmlPath) => KsmProcesses.Start(
        Path.Combine(_vdsm.HookDir("before_vm_start"), "50_largeguest"),
        new Dictionary<string, string>(Config()) { ["_hook_domxml"] = xmlPath, ["vmId"] = vm,
            ["ksm_merge_across_nodes"] = ksm });

    private string XmlCopy()
    {
        var path = Path.Combine(_state, $"domain-{Guid.NewGuid():N}.xml");
        File.WriteAllBytes(path, _xml);
        return path;
    }

    private bool JournalExists => File.Exists(Path.Combine(_state, KsmStateDirectory.JournalFileName));
    private static string[] Lines(string stderr) => stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Start_switches_the_host_and_destroy_only_releases_the_request()
    {
        using var pages = new MergeablePages(256);
        RealKsm.MergeNow(pages, runAfter: 0);
        var clock = Stopwatch.StartNew();
        var start = Hook("before_vm_start", VmA, "0", [("cputune", "0#0,1#1")]);
        _out.WriteLine($"hook with a 256 MiB unmerge: {clock.ElapsedMilliseconds} ms; stderr: {start.Stderr}");
        start.ExitCodes.Should().Equal([0], start.Stderr);
        Lines(start.Stderr).Should().ContainSingle().Which
            .Should().StartWith("largeguest: note: ksm: merge_across_nodes 1 -> 0").And.Contain("unmerged");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared"))
            .Should().Be(("0", "0", 0L));
        start.XmlText.Should()
            .Contain("<vcpupin vcpu=\"0\" cpuset=\"0\"", "the XML rewrite still happens, after the KSM work");
        File.Exists(Path.Combine(_state, "requests", VmA)).Should().BeTrue();

        var destroy = Hook("after_vm_destroy", VmA, "0");
        destroy.ExitCodes.Should().Equal([0], destroy.Stderr);
        destroy.Stderr.Should().BeEmpty();
        File.Exists(Path.Combine(_state, "requests", VmA)).Should().BeFalse();
        RealKsm.Read("merge_across_nodes").Should().Be("0", "after_vm_destroy changes nothing by itself");

        var migrate = Hook("before_vm_migrate_destination", VmB, "1");
        migrate.ExitCodes.Should().Equal([0], migrate.Stderr);
        migrate.Stderr.Should().Contain("merge_across_nodes 0 -> 1").And.Contain("nothing was shared");
        migrate.Xml.Should().Equal(_xml, "KSM work never touches the domain XML");
        RealKsm.Read("merge_across_nodes").Should().Be("1");

        var dehibernate = Hook("before_vm_dehibernate", VmB, "1");
        dehibernate.ExitCodes.Should().Equal([0], dehibernate.Stderr);
        dehibernate.Stderr.Should().BeEmpty("the value is already right");
    }

    [Fact]
    public void Sixteen_starts_at_once_unmerge_once_and_all_succeed()
    {
        using var pages = new MergeablePages(256);
        RealKsm.MergeNow(pages, runAfter: 0);
        var vms = Enumerable.Range(0, 16).Select(i => $"5e5e5e5e-0000-4000-8000-{i:x12}").ToList();
        var processes = vms.Select(vm => StartHook(vm, "0", XmlCopy())).ToList();
        var results = processes.Select(KsmProcesses.Wait).ToList();
        results.Should().AllSatisfy(r => r.ExitCode.Should().Be(0, r.Stderr));
        results.Count(r => r.Stderr.Contains("unmerged")).Should().Be(1, string.Join("\n", results
            .Select(r => r.Stderr)));
        results.Where(r => !r.Stderr.Contains("unmerged")).Should().AllSatisfy(r => r.Stderr.Should().BeEmpty());
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared"))
            .Should().Be(("0", "0", 0L));
        JournalExists.Should().BeFalse();
        Directory.GetFiles(Path.Combine(_state, "requests")).Should().HaveCount(16);
    }

    /// <summary>
    /// Issue 7's concurrency figure: 32 hooks at once on different VMs, each rewriting its own domain and
    /// registering a KSM request (a third ask 1, the rest 0) while merged pages must be unmerged. Every
    /// answer must be the one a lone run gives, and the host must end in one consistent state.
    /// </summary>
    [Fact]
    public void Thirty_two_hooks_at_once_give_lone_run_answers_and_one_consistent_host_state()
    {
        const int count = 32;
        var vms = Enumerable.Range(0, count).Select(i => $"3232aaaa-0000-4000-8000-{i:x12}").ToList();
        (string, string)[] PropertiesOf(int i) =>
            [("cputune", $"0#{i % 2},1#{(i + 1) % 2},emulator#{i % 2}"), ("numatune",
                i % 3 == 0 ? "strict#0" : "interleave#0"),
             ("guestnuma", i % 2 == 0 ? "0-15#16G" : "0-7#8G,8-15#8G")];

        // The answer of a lone run of each, without KSM work, is the reference.
        var expected = Enumerable.Range(0, count).Select(i =>
        {
            var props = PropertiesOf(i).ToDictionary(p => p.Item1, p => p.Item2);
            var lone = _vdsm.Run("before_vm_start", _xml, props, vms[i], Config(), TimeSpan.FromMinutes(1));
            lone.ExitCodes.Should().Equal([0], lone.Stderr);
            return lone.Xml;
        }).ToList();
        expected.Distinct(new ByteArrayComparer())
            .Should().HaveCount(4, "cputune+guestnuma (two variants) x numatune (two variants) give four different " +
            "domains");

        using var pages = new MergeablePages(256);
        RealKsm.MergeNow(pages, runAfter: 0);
        var paths = vms.Select(_ => XmlCopy()).ToList();
        var clock = Stopwatch.StartNew();
        var processes = Enumerable.Range(0, count).Select(i =>
        {
            var env = new Dictionary<string, string>(Config())
            {
                ["_hook_domxml"] = paths[i], ["vmId"] = vms[i], ["ksm_merge_across_nodes"] = i % 3 == 1 ? "1" : "0",
            };
            foreach (var (k, v) in PropertiesOf(i)) env[k] = v;
            return KsmProcesses.Start(Path.Combine(_vdsm.HookDir("before_vm_start"), "50_largeguest"), env);
        }).ToList();
        var results = processes.Select(KsmProcesses.Wait).ToList();
        var elapsed = clock.Elapsed;

        results.Should().AllSatisfy(r => r.ExitCode.Should().Be(0, r.Stderr));
        var wrong = Enumerable.Range(0,
            count).Count(i => !File.ReadAllBytes(paths[i]).AsSpan().SequenceEqual(expected[i]));
        wrong.Should().Be(0, "every domain must be exactly what a lone run writes");
        results.Count(r => r.Stderr.Contains("unmerged")).Should().Be(1, string.Join("\n", results
            .Select(r => r.Stderr)));
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared"))
            .Should().Be(("0", "0", 0L),
            "0 wins, the previous run is restored, nothing is left merged");
        JournalExists.Should().BeFalse();
        Directory.GetFiles(Path.Combine(_state, "requests")).Should().HaveCount(count);
        Figures.Report(_out, $"concurrency: {count} hooks at once with KSM work: " +
            $"{results.Count(r => r.ExitCode == 0)} exit 0, " +
            $"{wrong} wrong domains, 1 unmerge, end state merge_across_nodes=0 run=0 pages_shared=0, no journal; " +
                $"{elapsed.TotalSeconds:0.0} s");
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => obj.Length;
    }

    [Fact]
    public void Conflicting_VMs_end_at_0_and_the_1_asker_boots_with_a_note()
    {
        Hook("before_vm_start", VmA, "0").ExitCodes.Should().Equal(0);
        var second = Hook("before_vm_start", VmB, "1");
        second.ExitCodes.Should().Equal([0], second.Stderr);
        second.Stderr.Should().Contain($"VM {VmB} asks merge_across_nodes=1 but another VM asks 0, and 0 wins");
        RealKsm.Read("merge_across_nodes").Should().Be("0");
    }

    [Fact]
    public void SIGKILL_inside_a_transition_is_recovered_by_the_next_run()
    {
        using var pages = new MergeablePages(1024);
        RealKsm.MergeNow(pages, runAfter: 0);
        var hook = StartHook(VmA, "0", XmlCopy());
        Poll.Wait(() => JournalExists || hook.HasExited, TimeSpan.FromSeconds(60), "the journal appearing",
            every: TimeSpan.FromMilliseconds(1));
        if (!JournalExists) throw new InvalidOperationException("the journal never appeared: the hook exited first");
        hook.Kill(); // SIGKILL, inside the transition: the journal is written, the unmerge is starting or running
        hook.WaitForExit();
        var lockPath = Path.Combine(_state, KsmStateDirectory.LockFileName);
        Poll.Until(() => HostLock.IsFree(lockPath), TimeSpan.FromSeconds(60),
            TimeSpan.FromMilliseconds(10)); // an orphaned writer finishes its unmerge
        HostLock.IsFree(lockPath).Should().BeTrue();
        JournalExists.Should().BeTrue("the transition died part-way");
        _out.WriteLine($"after SIGKILL: run={RealKsm.Read("run")} " +
            $"merge_across_nodes={RealKsm.Read("merge_across_nodes")} pages_shared={RealKsm.Number("pages_shared")}");

        var next = Hook("before_vm_start", VmA, "0");
        next.ExitCodes.Should().Equal([0], next.Stderr);
        next.Stderr.Should().Contain("largeguest: warning: ksm: a KSM transition died part-way").And
            .Contain("run restored to 0");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared"))
            .Should().Be(("0", "0", 0L));
        JournalExists.Should().BeFalse();
    }

    [Fact]
    public void Policy_fail_refuses_the_VM_and_leaves_the_XML_byte_identical()
    {
        using (HostLock.Acquire(Path.Combine(_state, KsmStateDirectory.LockFileName),
            TimeSpan.Zero)) // another transition "holds" the host
        {
            var fail = Hook("before_vm_start", VmA, "0", [("cputune", "0#0")], Config(("OnFailure", "fail"),
                ("LockTimeoutSeconds", "0")));
            fail.ExitCodes.Should().Equal(2);
            fail.Raised.Should().BeTrue("VDSM aborts the VM start");
            Lines(fail.Stderr).Should().ContainSingle().Which.Should()
                .StartWith("largeguest: error: ksm_merge_across_nodes: ").And.Contain("held the lock")
                    .And.EndWith("(Ksm:OnFailure=fail)");
            fail.Xml.Should().Equal(_xml);

            var warn = Hook("before_vm_start", VmA, "0", [("cputune", "0#0")], Config(("LockTimeoutSeconds", "0")));
            warn.ExitCodes.Should().Equal(0);
            Lines(warn.Stderr).Should().ContainSingle().Which.Should()
                .StartWith("largeguest: warning: ksm_merge_across_nodes: ")
                    .And.EndWith("the VM starts anyway (Ksm:OnFailure=warn)");
            warn.XmlText.Should().Contain("<vcpupin vcpu=\"0\" cpuset=\"0\"");
        }
        RealKsm.Read("merge_across_nodes").Should().Be("1");
    }

    [Fact]
    public void A_registration_beyond_Ksm_MaxRequests_is_refused_and_the_XML_stays_byte_identical()
    {
        var registry = new KsmRequests(_state);
        registry.Register(new KsmRequest(VmId.Parse(VmB), true, DateTimeOffset.UtcNow));
        registry.Register(new KsmRequest(VmId.Parse(_own), true, DateTimeOffset.UtcNow));
        var fail = Hook("before_vm_start", VmA, "0", [("cputune", "0#0")], Config(("OnFailure", "fail"),
            ("MaxRequests", "2")));
        fail.ExitCodes.Should().Equal(2);
        Lines(fail.Stderr).Should().ContainSingle().Which.Should()
            .StartWith($"largeguest: error: ksm_merge_across_nodes: {Path.Combine(_state, "requests")}: 2 KSM " +
                $"requests registered, the most Ksm:MaxRequests allows (2): VM {VmA}'s request is refused")
            .And.EndWith("the VM is not started (Ksm:OnFailure=fail)");
        fail.Xml.Should().Equal(_xml);
        File.Exists(Path.Combine(_state, "requests", VmA)).Should().BeFalse();
        RealKsm.Read("merge_across_nodes").Should().Be("1", "the host's KSM is untouched");

        var fits = Hook("before_vm_start", VmA, "0", [("cputune", "0#0")], Config(("OnFailure", "fail"),
            ("MaxRequests", "3")));
        fits.ExitCodes.Should().Equal([0], fits.Stderr);
        RealKsm.Read("merge_across_nodes").Should().Be("0");
    }

    [Fact]
    public void A_state_directory_others_can_write_is_refused_before_anything_in_it_is_used()
    {
        File.SetUnixFileMode(_state, (UnixFileMode)Convert.ToInt32("777", 8));
        try
        {
            var fail = Hook("before_vm_start", VmA, "0", [("cputune", "0#0")], Config(("OnFailure", "fail")));
            fail.ExitCodes.Should().Equal(2);
            Lines(fail.Stderr).Should().ContainSingle().Which.Should()
                .StartWith($"largeguest: error: ksm_merge_across_nodes: {_state} (the KSM state directory " +
                    $"(Ksm:StateDir)) is writable by others than its owner: owner uid 0, mode 0777;")
                .And.EndWith("the VM is not started (Ksm:OnFailure=fail)");
            fail.Xml.Should().Equal(_xml);
            Directory.Exists(Path.Combine(_state, KsmStateDirectory.RequestsDirectoryName))
                .Should().BeFalse("no request was registered");
            File.Exists(Path.Combine(_state, KsmStateDirectory.LockFileName))
                .Should().BeFalse("the lock was not even opened");
            RealKsm.Read("merge_across_nodes").Should().Be("1", "the host's KSM is untouched");
        }
        finally { File.SetUnixFileMode(_state,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); }
    }

    [Theory]
    [InlineData("2", VmA, "largeguest: error: ksm_merge_across_nodes: bad value '2' (expected: 0 (never merge across " +
        "NUMA nodes) or 1)")]
    [InlineData("0", "", "largeguest: error: ksm_merge_across_nodes: vmId: bad value '' (expected: a UUID such as " +
        "3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11); the VM is not started (Ksm:OnFailure=fail)")]
    public void Bad_input_is_one_error_line_and_exit_2(string value, string vm, string error)
    {
        var r = Hook("before_vm_start", vm, value, [("cputune", "0#0")], Config(("OnFailure", "fail")));
        r.ExitCodes.Should().Equal(2);
        Lines(r.Stderr).Should().Equal(error);
        r.Xml.Should().Equal(_xml);
    }

    [Fact]
    public void Status_shows_counters_requests_and_the_desired_value_as_JSON_and_text()
    {
        using var pages = new MergeablePages(32);
        RealKsm.MergeNow(pages, runAfter: 0);
        new KsmRequests(_state).Register(new KsmRequest(VmId.Parse(VmA), false, DateTimeOffset.UtcNow.AddSeconds(-30)));
        var json = KsmProcesses.Run(PublishedBinary.Path, Config(), "ksm", "status", "--json");
        json.ExitCode.Should().Be(0, json.Stderr);
        using var doc = JsonDocument.Parse(json.Stdout);
        var root = doc.RootElement;
        root.GetProperty("run").GetInt32().Should().Be(0);
        root.GetProperty("merge_across_nodes").GetInt32().Should().Be(1);
        root.GetProperty("files").GetProperty("pages_shared").GetInt64().Should().BeGreaterThan(0);
        root.GetProperty("files").EnumerateObject().Select(p => p.Name).Should()
            .Contain(Directory.GetFiles(RealKsm.Root).Select(Path.GetFileName));
        var request = root.GetProperty("requests").EnumerateArray().Single();
        (request.GetProperty("vm").GetString(), request.GetProperty("merge_across_nodes").GetInt32(),
            request.GetProperty("stale").GetBoolean()).Should().Be((VmA, 0, false));
        request.GetProperty("age_seconds").GetInt64().Should().BeInRange(29, 300);
        root.GetProperty("desired").GetInt32().Should().Be(0);
        root.GetProperty("next").GetString().Should().StartWith("unmerge");
        root.GetProperty("journal").ValueKind.Should().Be(JsonValueKind.Null);

        var text = KsmProcesses.Run(PublishedBinary.Path, Config(), "ksm", "status");
        text.ExitCode.Should().Be(0, text.Stderr);
        text.Stdout.Should().Contain("merge_across_nodes").And.Contain($"{VmA}  merge_across_nodes=0").And
            .Contain("desired merge_across_nodes: 0 (asked by VM");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run")).Should().Be(("1", "0"), "status changes nothing");
    }

    [Fact]
    public void A_corrupt_registration_time_is_one_warning_in_status_and_reconcile_and_the_other_VMs_still_count()
    {
        var corrupt = Path.Combine(_state, KsmStateDirectory.RequestsDirectoryName,
            "cccccccc-2222-4000-8000-000000000003");
        new KsmRequests(_state).Register(new KsmRequest(VmId.Parse(VmA), false, DateTimeOffset.UtcNow));
        File.WriteAllText(corrupt, "merge_across_nodes=1\nregistered_unix_ms=99999999999999999\n");
        var warning = $"largeguest: warning: {corrupt}: not a KSM request (bad registered_unix_ms '99999999999999999')";

        var status = KsmProcesses.Run(PublishedBinary.Path, Config(), "ksm", "status");
        status.ExitCode.Should().Be(0, status.Stderr);
        status.StderrLines.Should().ContainSingle().Which.Should().StartWith(warning);
        status.Stdout.Should().Contain($"{VmA}  merge_across_nodes=0").And.Contain("desired merge_across_nodes: 0");

        var r = Hook("before_vm_start", VmA, "0", [("cputune", "0#0")], Config(("OnFailure", "fail")));
        r.ExitCodes.Should().Equal(0);
        Lines(r.Stderr).Should().Contain(l => l.StartsWith(warning, StringComparison.Ordinal));
        RealKsm.Read("merge_across_nodes").Should().Be("0", "VM A's 0 counts beside the corrupt entry");
    }

    [Theory]
    [InlineData("ksm reconcile --vm {vm} --merge-across-nodes=0")]
    [InlineData("ksm reconcile --merge-across-nodes 0 --vm {vm}")]
    [InlineData("ksm reconcile --vm {vm} --merge-across-nodes 0 --merge-across-nodes 1")]
    [InlineData("ksm reconcile --vm {vm} --merge-across-nodes 2")]
    [InlineData("ksm reconcile --vm {vm}/../../etc/x --merge-across-nodes 0")]
    [InlineData("ksm release --vm {vm} extra")]
    [InlineData("ksm reconcile --vm @/etc/shadow --merge-across-nodes 0")]
    public void The_privileged_entry_refuses_anything_but_the_fixed_forms(string args)
    {
        var r = KsmProcesses.Run(PublishedBinary.Path, new Dictionary<string, string>(), args.Replace("{vm}",
            _own).Split(' '));
        r.ExitCode.Should().Be(2);
        r.StderrLines.Should().NotBeEmpty().And.AllSatisfy(l => l.Should().StartWith("largeguest: "));
        r.Stderr.Should().NotContain("root:", "no file content may leak through a refusal");
        File.Exists(Path.Combine(KsmPrivilegedPaths.Requests, _own)).Should().BeFalse();
        RealKsm.Read("merge_across_nodes").Should().Be("1");
    }

    [Fact]
    public void The_privileged_entry_ignores_environment_and_config_path_overrides()
    {
        new KsmRequests(_state).Register(new KsmRequest(VmId.Parse(_own), false, DateTimeOffset.UtcNow));
        var badConfig = Path.Combine(_state, "bad.json");
        File.WriteAllText(badConfig, "{ not json");
        var env = new Dictionary<string, string>(Config()) { ["LARGEGUEST_CONFIG"] = badConfig };
        var r = KsmProcesses.Run(PublishedBinary.Path, env, "ksm", "release", "--vm", _own);
        r.ExitCode.Should().Be(0, r.Stderr);
        r.Stderr.Should().Contain("had no KSM request",
            "it looked in the fixed state directory, not the overridden one");
        File.Exists(Path.Combine(_state, "requests", _own)).Should().BeTrue();
    }
}

/// <summary>The fixed paths the privileged entry uses on this host (no /etc/vdsm-hook-largeguest/largeguest.json
/// here).</summary>
public static class KsmPrivilegedPaths
{
    public const string StateDir = "/run/vdsm-hook-largeguest";
    public static string Requests => Path.Combine(StateDir, KsmStateDirectory.RequestsDirectoryName);
}
