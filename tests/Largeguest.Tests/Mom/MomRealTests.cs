using System.Diagnostics;
using System.Text.Json;
using Largeguest.Ksm.Mom;
using Largeguest.Tests.Ksm;
using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.Mom;

/// <summary>
/// The published hook beside the REAL MoM daemon (<see cref="RealMom"/>) on the real kernel's KSM with merged pages:
/// MoM must agree with the hook's value instead of reverting it, across cycles and a MoM restart, and go back to the
/// engine's value after after_vm_destroy (docs/ksm.md, "MoM"). Needs root; FAILS without root, KSM or MoM's source.
/// </summary>
[Collection(RealKsmCollection.Name)]
public sealed class MomRealTests : IDisposable
{
    private const string Vm = "6d0b1b1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    private readonly ITestOutputHelper _out;
    private readonly VdsmHookRunner _vdsm = new();
    private readonly string _state = Directory.CreateTempSubdirectory("largeguest-mom-state-").FullName;
    private readonly byte[] _xml = File.ReadAllBytes(KsmProcesses.SampleXml);

    public MomRealTests(RealKsm ksm, ITestOutputHelper output)
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

    private Dictionary<string, string> Config(string momConfig, params (string Key, string Value)[] more)
    {
        var env = new Dictionary<string, string>
        {
            ["LARGEGUEST__Ksm__StateDir"] = _state,
            ["LARGEGUEST__Topology__Source"] = "sysfs",
            ["LARGEGUEST__Mom__ConfigPath"] = momConfig,
        };
        foreach (var (k, v) in more) env[$"LARGEGUEST__{k}"] = v;
        return env;
    }

    private HookRun Hook(string point, string ksm, Dictionary<string, string> config) =>
        _vdsm.Run(point, _xml, new Dictionary<string, string> { ["ksm_merge_across_nodes"] = ksm }, Vm, config,
            TimeSpan.FromMinutes(3));

    private static (string Merge, long Shared) Host() => (RealKsm.Read("merge_across_nodes"),
        RealKsm.Number("pages_shared"));

    /// <summary>Samples merge_across_nodes and run every 2 ms in the background and keeps every change (for the
    /// assertions and their messages).</summary>
    private sealed class SysfsWatch : IDisposable
    {
        private readonly List<string> _changes = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Thread _thread;
        private volatile bool _sawOne;

        public SysfsWatch()
        {
            _thread = new Thread(() =>
            {
                var last = "";
                while (!_stop.IsCancellationRequested)
                {
                    var merge = RealKsm.Read("merge_across_nodes");
                    var now = $"merge_across_nodes={merge} run={RealKsm.Read("run")}";
                    if (merge == "1") _sawOne = true;
                    if (now != last) lock (_changes) _changes.Add($"{DateTime.Now:HH:mm:ss.fff} {now}");
                    last = now;
                    Thread.Sleep(2);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public bool SawOne => _sawOne;

        public override string ToString() { lock (_changes) return string.Join("\n", _changes); }

        public void Dispose()
        {
            _stop.Cancel();
            _thread.Join();
            _stop.Dispose();
        }
    }

    private static void WaitUntil(Func<bool> condition, string what, RealMom mom) =>
        Poll.Wait(condition, TimeSpan.FromSeconds(30), what, () => $"MoM's log:\n{mom.Log}",
            TimeSpan.FromMilliseconds(100));

    /// <summary>Like <see cref="RealKsm.MergeNow"/>, but starting ksmd again whenever MoM's policy (no memory pressure
    /// here) stops it.</summary>
    private static void MergeBesideMom(MergeablePages pages)
    {
        Poll.Wait(() =>
        {
            if (RealKsm.Number("pages_sharing") >= pages.Pages * 95 / 100) return true;
            if (RealKsm.Read("run") != "1") RealKsm.Write("run", "1"); // MoM may stop ksmd in between
            return false;
        }, TimeSpan.FromMinutes(2), $"ksmd merging {pages.Pages} pages", () => $"pages_sharing " +
            $"{RealKsm.Number("pages_sharing")}");
        RealKsm.Write("run", "0");
    }

    [Fact]
    public void Mom_keeps_the_hooks_value_across_cycles_and_a_restart_and_goes_back_to_the_engines_after_destroy()
    {
        using var mom = new RealMom();
        using var pages = new MergeablePages(64);
        RealKsm.MergeNow(pages, runAfter: 0);
        mom.Start();
        var rtt = Enumerable.Range(0, 21)
            .Select(_ => { var t = Stopwatch.StartNew(); mom.Client.Ping(); return t.Elapsed.TotalMilliseconds; })
            .Order().ToList();
        Figures.Report(_out, $"MoM RPC round trip (ping over its unix socket, 21 calls): median {rtt[10]:F2} ms, max " +
            $"{rtt[^1]:F2} ms");
        mom.WaitCycles(2);
        Host().Should().Match<(string Merge, long Shared)>(h => h.Merge == "1" && h.Shared > 0, "MoM holds the " +
            "engine's value while pages are shared");

        var mark = mom.Mark();
        var clock = Stopwatch.StartNew();
        var start = Hook("before_vm_start", "0", Config(mom.ConfigPath));
        Figures.Report(_out, $"MoM: before_vm_start with a {pages.Bytes >> 20} MiB unmerge and the MoM publication: " +
            $"{clock.ElapsedMilliseconds} ms");
        start.ExitCodes.Should().Equal([0], start.Stderr);
        start.Stderr.Should().Contain("merge_across_nodes 1 -> 0").And.Contain("unmerged")
            .And.Contain($"MoM now enforces merge_across_nodes=0 (policy 02-largeguest set at {mom.Socket}");
        File.ReadAllText(mom.PolicyFile).Should().Contain("(set ksmMergeAcrossNodes 0)").And
            .Contain("vdsm-hook-largeguest");
        mom.Client.GetNamedPolicies().Should().ContainKey("02-largeguest").WhoseValue.Should()
            .Contain("(set ksmMergeAcrossNodes 0)");
        using var watch = new SysfsWatch();

        // MoM decides on its latest host sample (taken every host-monitor-interval): its first cycle after the hook may
        // still see "1 with pages shared" from before the switch and write run=2 once, finding nothing left to unmerge
        // (docs/ksm.md, "MoM"). Then ksmd merges again under the new value: MoM must leave those pages merged.
        WaitUntil(() => mom.Client.GetHostStatistics()["ksm_merge_across_nodes"] is 0, "MoM samples " +
            "merge_across_nodes=0", mom);
        var stale = mom.KsmWrites(mark, "'run': 2");
        var steady = mom.Mark();
        MergeBesideMom(pages);
        mom.WaitCycles(4);
        string History() => $"sysfs:\n{watch}\nMoM's " +
            $"log:\n{string.Join("\n", mom.LogSince(mark).Where(l => !l.Contains("getStatistics")
                && !l.Contains("GuestManager") && !l.Contains("libvirtInterface")))}";
        stale.Should().BeLessThanOrEqualTo(1, History());
        watch.SawOne.Should().BeFalse("merge_across_nodes never went back to 1 after the hook\n" + History());
        Host().Should().Match<(string Merge, long Shared)>(h => h.Merge == "0" && h.Shared > 0, "MoM now agrees with " +
            "the hook");
        mom.KsmWrites(steady, "'run': 2")
            .Should().Be(0, "MoM must not unmerge pages merged under the VM's value\n" + History());
        mom.KsmWrites(mark, "'merge_across_nodes'").Should().Be(0, History());
        Figures.Report(_out, $"MoM beside the hook: {mom.Cycles(mark)} policy cycles with the VM asking 0: " +
            $"merge_across_nodes stayed 0; " +
            $"unmerges: 1 by the hook, {stale} run=2 by MoM on its pre-switch sample, 0 afterwards with " +
                $"{RealKsm.Number("pages_shared")} pages shared");

        // What MoM costs a start that changes nothing (value already right): the lock, a registry read, one RPC call.
        double Median(string momConfig) => Enumerable.Range(0, 9).Select(_ =>
        {
            var t = Stopwatch.StartNew();
            Hook("before_vm_start", "0", Config(momConfig)).ExitCodes.Should().Equal([0]);
            return t.Elapsed.TotalMilliseconds;
        }).Order().ElementAt(4);
        var (withMom, without) = (Median(mom.ConfigPath), Median(Path.Combine(mom.Dir, "absent.conf")));
        Figures.Report(_out, $"MoM: a no-change before_vm_start (VDSM runner, median of 9): {withMom:F1} ms with " +
            $"MoM, {without:F1} ms without (no mom.conf)");

        // ksm status shows MoM, our loaded policy and MoM's own view.
        var status = KsmProcesses.Run(PublishedBinary.Path, Config(mom.ConfigPath), "ksm", "status", "--json");
        status.ExitCode.Should().Be(0, status.Stderr);
        var json = JsonDocument.Parse(status.Stdout).RootElement.GetProperty("mom");
        json.GetProperty("present").GetBoolean().Should().BeTrue();
        json.GetProperty("ksm_controller").GetBoolean().Should().BeTrue();
        json.GetProperty("socket").GetString().Should().Be(mom.Socket);
        json.GetProperty("answers").GetBoolean().Should().BeTrue();
        json.GetProperty("policy_loaded").GetBoolean().Should().BeTrue();
        json.GetProperty("policy_text").GetString().Should().Contain("(set ksmMergeAcrossNodes 0)");
        json.GetProperty("host_statistics").GetProperty("ksm_merge_across_nodes").GetInt32().Should().Be(0);
        json.GetProperty("host_statistics").GetProperty("ksm_pages_shared").GetInt64().Should().BeGreaterThan(0);
        var text = KsmProcesses.Run(PublishedBinary.Path, Config(mom.ConfigPath), "ksm", "status");
        text.Stdout.Should().Contain($"MoM: {mom.ConfigPath}: controllers KSM (KSM controller on)")
            .And.Contain($"socket {mom.Socket}: answers").And
                .Contain("policy 02-largeguest loaded in MoM: (set ksmMergeAcrossNodes 0)")
            .And.Contain("ksm_merge_across_nodes=0");

        // A MoM restart (killed, started again, VDSM pushing 01-parameters again) loads our policy file: no revert.
        mom.Stop(kill: true);
        mark = mom.Mark();
        mom.Start();
        mom.WaitCycles(3);
        mom.Client.GetNamedPolicies().Should().ContainKey("02-largeguest", "a restarted MoM loads the policy file");
        Host().Should().Match<(string Merge, long Shared)>(h => h.Merge == "0" && h.Shared > 0, "a restarted MoM " +
            "does not revert the value");
        mom.KsmWrites(mark, "'run': 2").Should().Be(0, string.Join("\n", mom.LogSince(mark)));
        watch.SawOne.Should().BeFalse("merge_across_nodes never went back to 1 across the restart\n" + History());
        Figures.Report(_out, $"MoM restart: {mom.Cycles(mark)} cycles after it, merge_across_nodes stayed 0, " +
            "no unmerge");

        // after_vm_destroy: our policy is withdrawn and MoM puts the engine's value back (its own unmerge).
        mark = mom.Mark();
        var destroy = Hook("after_vm_destroy", "0", Config(mom.ConfigPath));
        destroy.ExitCodes.Should().Equal([0], destroy.Stderr);
        destroy.Stderr.Should().Contain("MoM is back to the engine's merge_across_nodes");
        File.Exists(mom.PolicyFile).Should().BeFalse();
        mom.Client.GetNamedPolicies().Should().NotContainKey("02-largeguest");
        clock.Restart();
        WaitUntil(() => RealKsm.Read("merge_across_nodes") == "1", "MoM restores the engine's merge_across_nodes=1",
            mom);
        Figures.Report(_out, $"after after_vm_destroy MoM restored merge_across_nodes=1 in " +
            $"{clock.ElapsedMilliseconds} ms ({mom.KsmWrites(mark, "'run': 2")} unmerge by MoM)");
    }

    [Fact]
    public void A_dead_MoM_socket_is_the_OnFailure_outcome_and_the_policy_file_is_still_written()
    {
        using var mom = new RealMom(); // configured, never started: its socket does not exist
        var warn = Hook("before_vm_start", "0", Config(mom.ConfigPath));
        warn.ExitCodes.Should().Equal([0], warn.Stderr);
        RealKsm.Read("merge_across_nodes").Should().Be("0", "our own transition is done whatever MoM does");
        var line = warn.Stderr.Split('\n')
            .Should().ContainSingle(l => l.StartsWith("largeguest: warning: ", StringComparison.Ordinal)).Which;
        line.Should().Contain("MoM did not take policy 02-largeguest (merge_across_nodes=0)").And.Contain(mom.Socket)
            .And.Contain("did not answer getNamedPolicies: no such socket")
            .And.Contain("MoM will revert merge_across_nodes to the engine's value").And
                .Contain($"the policy file {mom.PolicyFile} is written")
            .And.EndWith("the VM starts anyway (Ksm:OnFailure=warn)");
        warn.Stderr.Should().Contain("largeguest: note: ksm: merge_across_nodes 1 -> 0", "the transition's note " +
            "comes before the warning");
        File.ReadAllText(mom.PolicyFile).Should()
            .Contain("(set ksmMergeAcrossNodes 0)", "a MoM started later picks it up");

        var fail = Hook("before_vm_start", "0", Config(mom.ConfigPath, ("Ksm__OnFailure", "fail")));
        fail.ExitCodes.Should().Equal([2], fail.Stderr);
        fail.Xml.Should().Equal(_xml, "a refused start leaves the domain XML byte-identical");
        fail.Stderr.Should().Contain("largeguest: error: ksm_merge_across_nodes: MoM did not take ").And
            .Contain("the VM is not started (Ksm:OnFailure=fail)");

        var status = KsmProcesses.Run(PublishedBinary.Path, Config(mom.ConfigPath), "ksm", "status", "--json");
        status.ExitCode.Should().Be(0, status.Stderr);
        var json = JsonDocument.Parse(status.Stdout).RootElement.GetProperty("mom");
        json.GetProperty("answers").GetBoolean().Should().BeFalse();
        json.GetProperty("rpc_error").GetString().Should().Contain(mom.Socket);
        json.GetProperty("policy_file_text").GetString().Should().Contain("(set ksmMergeAcrossNodes 0)");

        var destroy = Hook("after_vm_destroy", "0", Config(mom.ConfigPath));
        destroy.ExitCodes.Should().Equal([0], destroy.Stderr);
        destroy.Stderr.Should().Contain("largeguest: warning: MoM did not take ").And
            .Contain("keeps enforcing the previous 02-largeguest until it restarts");
        File.Exists(mom.PolicyFile).Should().BeFalse("the file goes even when the socket does not answer");
    }

    [Fact]
    public void The_tuning_service_refuses_to_start_while_MoMs_KSM_controller_is_configured()
    {
        using var mom = new RealMom(controllers: "Balloon, KSM, CpuTune, IoTune");
        var before = (RealKsm.Read("run"), RealKsm.Read("pages_to_scan"));
        foreach (var mode in new[] { "--once", "--daemon" })
        {
            var run = KsmProcesses.Run(PublishedBinary.Path, Config(mom.ConfigPath, ("KsmTune__Listen", "")), "ksm",
                "tune", mode);
            run.ExitCode.Should().Be(2, run.Stderr);
            run.Stderr.Should().Contain($"MoM's KSM controller is configured in {mom.ConfigPath}")
                .And.Contain($"'controllers: Balloon, CpuTune, IoTune' in {mom.ConfigPath}").And
                    .Contain("systemctl restart mom-vdsm");
        }
        (RealKsm.Read("run"), RealKsm.Read("pages_to_scan")).Should().Be(before, "a refused tuner writes nothing");
    }

    [Fact]
    public void Mom_without_its_KSM_controller_is_left_alone_and_the_tuner_may_run()
    {
        using var mom = new RealMom(controllers: "Balloon");
        var start = Hook("before_vm_start", "0", Config(mom.ConfigPath));
        start.ExitCodes.Should().Equal([0], start.Stderr);
        start.Stderr.Should().NotContain("MoM");
        File.Exists(mom.PolicyFile).Should().BeFalse("MoM does not manage KSM: nothing to publish");
        var status = KsmProcesses.Run(PublishedBinary.Path, Config(mom.ConfigPath), "ksm", "status");
        status.Stdout.Should().Contain("KSM controller off: MoM leaves KSM alone");
        var tune = KsmProcesses.Run(PublishedBinary.Path, Config(mom.ConfigPath, ("KsmTune__Listen", "")), "ksm",
            "tune", "--once");
        tune.ExitCode.Should().Be(0, tune.Stderr);
    }
}
