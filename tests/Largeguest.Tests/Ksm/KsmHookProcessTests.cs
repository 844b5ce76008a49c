using System.Diagnostics;
using System.Text.Json;
using Largeguest.Ksm;
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
    private readonly string _dir = Directory.CreateTempSubdirectory("largeguest-ksm-hook-").FullName;
    private string State => Path.Combine(_dir, "state");
    private string Xml => Path.Combine(_dir, "domain.xml");

    public KsmHookProcessTests(RealKsm ksm, ITestOutputHelper output)
    {
        _ = ksm;
        _out = output;
        RealKsm.Baseline(mergeAcrossNodes: true, run: 0);
        foreach (var point in new[] { "before_vm_start", "before_vm_migrate_destination", "after_vm_destroy" })
        {
            Directory.CreateDirectory(Path.Combine(_dir, point));
            File.CreateSymbolicLink(Hook(point), Published.Binary);
        }
        File.Copy(Published.SampleXml, Xml);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Hook(string point) => Path.Combine(_dir, point, "50_largeguest");

    private Dictionary<string, string> Env(string vm, string? ksm, params (string, string)[] more)
    {
        var env = new Dictionary<string, string> { ["_hook_domxml"] = Xml, ["vmId"] = vm, ["LARGEGUEST__Ksm__StateDir"] = State };
        if (ksm is not null) env["ksm_merge_across_nodes"] = ksm;
        foreach (var (k, v) in more) env[k] = v;
        return env;
    }

    private bool JournalExists => File.Exists(Path.Combine(State, KsmJournalFile.FileName));

    [Fact]
    public void Start_switches_the_host_and_destroy_only_releases_the_request()
    {
        using var pages = new MergeablePages(256);
        RealKsm.MergeNow(pages, runAfter: 0);
        var clock = Stopwatch.StartNew();
        var start = Published.Run(Hook("before_vm_start"), Env(VmA, "0", ("cputune", "0#0,1#1")));
        _out.WriteLine($"hook with a 256 MiB unmerge: {clock.ElapsedMilliseconds} ms; stderr: {start.Stderr}");
        start.ExitCode.Should().Be(0, start.Stderr);
        start.StderrLines.Should().ContainSingle().Which.Should().StartWith("largeguest: note: ksm: merge_across_nodes 1 -> 0").And.Contain("unmerged");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared")).Should().Be(("0", "0", 0L));
        File.ReadAllText(Xml).Should().Contain("<vcpupin vcpu=\"0\" cpuset=\"0\"", "the XML rewrite still happens, after the KSM work");
        File.Exists(Path.Combine(State, "requests", VmA)).Should().BeTrue();

        var destroy = Published.Run(Hook("after_vm_destroy"), Env(VmA, "0"));
        destroy.ExitCode.Should().Be(0, destroy.Stderr);
        destroy.Stderr.Should().BeEmpty();
        File.Exists(Path.Combine(State, "requests", VmA)).Should().BeFalse();
        RealKsm.Read("merge_across_nodes").Should().Be("0", "after_vm_destroy changes nothing by itself");

        var migrate = Published.Run(Hook("before_vm_migrate_destination"), Env(VmB, "1"));
        migrate.ExitCode.Should().Be(0, migrate.Stderr);
        migrate.Stderr.Should().Contain("merge_across_nodes 0 -> 1").And.Contain("nothing was shared");
        RealKsm.Read("merge_across_nodes").Should().Be("1");
    }

    [Fact]
    public void Sixteen_starts_at_once_unmerge_once_and_all_succeed()
    {
        using var pages = new MergeablePages(256);
        RealKsm.MergeNow(pages, runAfter: 0);
        var vms = Enumerable.Range(0, 16).Select(i => $"5e5e5e5e-0000-4000-8000-{i:x12}").ToList();
        var processes = vms.Select(vm => Published.Start(Hook("before_vm_start"), Env(vm, "0"))).ToList();
        var results = processes.Select(Published.Wait).ToList();
        results.Should().AllSatisfy(r => r.ExitCode.Should().Be(0, r.Stderr));
        results.Count(r => r.Stderr.Contains("unmerged")).Should().Be(1, string.Join("\n", results.Select(r => r.Stderr)));
        results.Where(r => !r.Stderr.Contains("unmerged")).Should().AllSatisfy(r => r.Stderr.Should().BeEmpty());
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared")).Should().Be(("0", "0", 0L));
        JournalExists.Should().BeFalse();
        Directory.GetFiles(Path.Combine(State, "requests")).Should().HaveCount(16);
    }

    [Fact]
    public void Conflicting_VMs_end_at_0_and_the_1_asker_boots_with_a_note()
    {
        Published.Run(Hook("before_vm_start"), Env(VmA, "0")).ExitCode.Should().Be(0);
        var second = Published.Run(Hook("before_vm_start"), Env(VmB, "1"));
        second.ExitCode.Should().Be(0, second.Stderr);
        second.Stderr.Should().Contain($"VM {VmB} asks merge_across_nodes=1 but another VM asks 0, and 0 wins");
        RealKsm.Read("merge_across_nodes").Should().Be("0");
    }

    [Fact]
    public void SIGKILL_inside_a_transition_is_recovered_by_the_next_run()
    {
        using var pages = new MergeablePages(1024);
        RealKsm.MergeNow(pages, runAfter: 0);
        var hook = Published.Start(Hook("before_vm_start"), Env(VmA, "0"));
        var clock = Stopwatch.StartNew();
        while (!JournalExists)
        {
            if (hook.HasExited || clock.Elapsed > TimeSpan.FromSeconds(60))
                throw new InvalidOperationException($"the journal never appeared (hook exited: {hook.HasExited})");
            Thread.Sleep(1);
        }
        hook.Kill(); // SIGKILL, inside the transition: the journal is written, the unmerge is starting or running
        hook.WaitForExit();
        var lockPath = Path.Combine(State, HostLock.FileName);
        clock.Restart();
        while (!HostLock.IsFree(lockPath) && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(10); // an orphaned writer finishes its unmerge
        HostLock.IsFree(lockPath).Should().BeTrue();
        JournalExists.Should().BeTrue("the transition died part-way");
        _out.WriteLine($"after SIGKILL: run={RealKsm.Read("run")} merge_across_nodes={RealKsm.Read("merge_across_nodes")} pages_shared={RealKsm.Number("pages_shared")}");

        var next = Published.Run(Hook("before_vm_start"), Env(VmA, "0"));
        next.ExitCode.Should().Be(0, next.Stderr);
        next.Stderr.Should().Contain("largeguest: warning: ksm: a KSM transition died part-way").And.Contain("run restored to 0");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared")).Should().Be(("0", "0", 0L));
        JournalExists.Should().BeFalse();
    }

    [Fact]
    public void Policy_fail_refuses_the_VM_and_leaves_the_XML_byte_identical()
    {
        var before = File.ReadAllBytes(Xml);
        var mtime = File.GetLastWriteTimeUtc(Xml);
        Directory.CreateDirectory(State);
        using (HostLock.Acquire(Path.Combine(State, HostLock.FileName), TimeSpan.Zero)) // another transition "holds" the host
        {
            var fail = Published.Run(Hook("before_vm_start"), Env(VmA, "0", ("cputune", "0#0"),
                ("LARGEGUEST__Ksm__OnFailure", "fail"), ("LARGEGUEST__Ksm__LockTimeoutSeconds", "0")));
            fail.ExitCode.Should().Be(2);
            fail.StderrLines.Should().ContainSingle().Which.Should()
                .StartWith("largeguest: error: ksm_merge_across_nodes: ").And.Contain("held the lock").And.EndWith("(Ksm:OnFailure=fail)");
            File.ReadAllBytes(Xml).Should().Equal(before);
            File.GetLastWriteTimeUtc(Xml).Should().Be(mtime);

            var warn = Published.Run(Hook("before_vm_start"), Env(VmA, "0", ("cputune", "0#0"), ("LARGEGUEST__Ksm__LockTimeoutSeconds", "0")));
            warn.ExitCode.Should().Be(0);
            warn.StderrLines.Should().ContainSingle().Which.Should().StartWith("largeguest: warning: ksm_merge_across_nodes: ").And.EndWith("the VM starts anyway (Ksm:OnFailure=warn)");
            File.ReadAllText(Xml).Should().Contain("<vcpupin vcpu=\"0\" cpuset=\"0\"");
        }
        RealKsm.Read("merge_across_nodes").Should().Be("1");
    }

    [Theory]
    [InlineData("2", null, "largeguest: error: ksm_merge_across_nodes: bad value '2' (expected: 0 (never merge across NUMA nodes) or 1)")]
    [InlineData("0", "", "largeguest: error: ksm_merge_across_nodes: vmId: bad value '' (expected: a UUID such as 3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11); the VM is not started (Ksm:OnFailure=fail)")]
    public void Bad_input_is_one_error_line_and_exit_2(string value, string? vm, string error)
    {
        var before = File.ReadAllBytes(Xml);
        var r = Published.Run(Hook("before_vm_start"), Env(vm ?? VmA, value, ("cputune", "0#0"), ("LARGEGUEST__Ksm__OnFailure", "fail")));
        r.ExitCode.Should().Be(2);
        r.StderrLines.Should().Equal(error);
        File.ReadAllBytes(Xml).Should().Equal(before);
    }

    [Fact]
    public void Status_shows_counters_requests_and_the_desired_value_as_JSON_and_text()
    {
        using var pages = new MergeablePages(32);
        RealKsm.MergeNow(pages, runAfter: 0);
        new KsmRequests(State).Register(new KsmRequest(VmId.Parse(VmA), false, DateTimeOffset.UtcNow.AddSeconds(-30)));
        var env = new Dictionary<string, string> { ["LARGEGUEST__Ksm__StateDir"] = State };
        var json = Published.Run(Published.Binary, env, "ksm", "status", "--json");
        json.ExitCode.Should().Be(0, json.Stderr);
        using var doc = JsonDocument.Parse(json.Stdout);
        var root = doc.RootElement;
        root.GetProperty("run").GetInt32().Should().Be(0);
        root.GetProperty("merge_across_nodes").GetInt32().Should().Be(1);
        root.GetProperty("files").GetProperty("pages_shared").GetInt64().Should().BeGreaterThan(0);
        root.GetProperty("files").EnumerateObject().Select(p => p.Name).Should().Contain(Directory.GetFiles(RealKsm.Root).Select(Path.GetFileName));
        var request = root.GetProperty("requests").EnumerateArray().Single();
        (request.GetProperty("vm").GetString(), request.GetProperty("merge_across_nodes").GetInt32(), request.GetProperty("stale").GetBoolean()).Should().Be((VmA, 0, false));
        request.GetProperty("age_seconds").GetInt64().Should().BeInRange(29, 300);
        root.GetProperty("desired").GetInt32().Should().Be(0);
        root.GetProperty("next").GetString().Should().StartWith("unmerge");
        root.GetProperty("journal").ValueKind.Should().Be(JsonValueKind.Null);

        var text = Published.Run(Published.Binary, env, "ksm", "status");
        text.ExitCode.Should().Be(0, text.Stderr);
        text.Stdout.Should().Contain("merge_across_nodes").And.Contain($"{VmA}  merge_across_nodes=0").And.Contain("desired merge_across_nodes: 0 (asked by VM");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run")).Should().Be(("1", "0"), "status changes nothing");
    }

    [Theory]
    [InlineData("ksm reconcile --vm " + VmA + " --merge-across-nodes=0")]
    [InlineData("ksm reconcile --merge-across-nodes 0 --vm " + VmA)]
    [InlineData("ksm reconcile --vm " + VmA + " --merge-across-nodes 0 --merge-across-nodes 1")]
    [InlineData("ksm reconcile --vm " + VmA + " --merge-across-nodes 2")]
    [InlineData("ksm reconcile --vm ../../etc/x --merge-across-nodes 0")]
    [InlineData("ksm release --vm " + VmA + " extra")]
    [InlineData("ksm reconcile --vm @/etc/shadow --merge-across-nodes 0")]
    public void The_privileged_entry_refuses_anything_but_the_fixed_forms(string args)
    {
        var r = Published.Run(Published.Binary, new Dictionary<string, string>(), args.Split(' '));
        r.ExitCode.Should().Be(2);
        r.StderrLines.Should().NotBeEmpty().And.AllSatisfy(l => l.Should().StartWith("largeguest: "));
        r.Stderr.Should().NotContain("root:", "no file content may leak through a refusal");
        File.Exists(Path.Combine(KsmPrivilegedPaths.Requests, VmA)).Should().BeFalse();
        RealKsm.Read("merge_across_nodes").Should().Be("1");
    }

    [Fact]
    public void The_privileged_entry_ignores_environment_and_config_path_overrides()
    {
        new KsmRequests(State).Register(new KsmRequest(VmId.Parse(VmA), false, DateTimeOffset.UtcNow));
        var badConfig = Path.Combine(_dir, "bad.json");
        File.WriteAllText(badConfig, "{ not json");
        var env = new Dictionary<string, string> { ["LARGEGUEST__Ksm__StateDir"] = State, ["LARGEGUEST_CONFIG"] = badConfig };
        var r = Published.Run(Published.Binary, env, "ksm", "release", "--vm", VmA);
        r.ExitCode.Should().Be(0, r.Stderr);
        r.Stderr.Should().Contain("had no KSM request", "it looked in the fixed state directory, not the overridden one");
        File.Exists(Path.Combine(State, "requests", VmA)).Should().BeTrue();
    }
}

/// <summary>The fixed paths the privileged entry uses on this host (no /etc/vdsm-hook-largeguest/largeguest.json here).</summary>
public static class KsmPrivilegedPaths
{
    public const string StateDir = "/run/vdsm-hook-largeguest";
    public static string Requests => Path.Combine(StateDir, KsmRequests.DirectoryName);
}
