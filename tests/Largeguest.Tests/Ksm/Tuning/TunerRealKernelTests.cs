using Largeguest.Ksm;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Largeguest.Ksm.Tuning;
using Largeguest.Tests.Ksm;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Ksm.Tuning;

/// <summary>
/// The published binary driving the real kernel's KSM (root). Shares the KSM library's real-kernel fixture: its
/// cross-worktree test lock, and every KSM setting saved and restored around the collection.
/// </summary>
[Collection(RealKsmCollection.Name)]
public sealed class TunerRealKernelTests(RealKsm kernel) : IDisposable
{
    private readonly RealKsm _kernel = kernel; // held for the collection: lock + restore
    private readonly TunerSandbox _box = new();

    public void Dispose() => _box.Dispose();

    /// <summary>Nothing merged, ksmd stopped: a known starting point (merge_across_nodes as it is).</summary>
    private static void Unmerged()
    {
        RealKsm.Write("run", "0");
        RealKsm.Write("run", "2");
        RealKsm.Write("run", "0");
    }

    private static long ExpectedSleep(long sleepMsec) => TuningCycle.SleepMillisecs(sleepMsec, MemInfo.Read().TotalKiB);

    [Fact]
    public void Once_with_thresCoef_100_starts_ksmd_with_pages_to_scan_raised()
    {
        RealKsm.Write("run", "0");
        RealKsm.Write("pages_to_scan", "100");
        var (exit, stdout, stderr) = _box.Run("ksm", "tune", "--once", "--mode", "high", "--thres-coef", "100");
        exit.Should().Be(0, stderr);
        RealKsm.Read("run").Should().Be("1");
        RealKsm.Number("pages_to_scan").Should().Be(300, "high mode boosts 100 by 200");
        RealKsm.Number("sleep_millisecs").Should().Be(ExpectedSleep(20));
        stdout.Should().StartWith("free ").And.Contain("< threshold").And
            .Contain("start ksmd, pages_to_scan 100 -> 300");
        using var state = JsonDocument.Parse(_box.StateJson);
        state.RootElement.GetProperty("phase").GetString().Should().Be("Running");
        state.RootElement.GetProperty("pagesToScan").GetInt64().Should().Be(300);
        state.RootElement.GetProperty("lastAction").GetString().Should().Be("start");

        // ksm status (the KSM library's command) shows the tuner's state, in text and JSON.
        var status = _box.Run("ksm", "status");
        status.Exit.Should().Be(0, status.Stderr);
        status.Stdout.Should()
            .Contain("tuner:\n  daemon:          not running\n  phase:           Running (asked: run, mode high)\n  " +
            "pages_to_scan:   300\n")
            .And.Contain("  last decision:   start at ").And.Contain("start ksmd, pages_to_scan 100 -> 300");
        var json = _box.Run("ksm", "status", "--json");
        json.Exit.Should().Be(0, json.Stderr);
        using (var doc = JsonDocument.Parse(json.Stdout))
        {
            var tuner = doc.RootElement.GetProperty("tuner");
            tuner.GetProperty("phase").GetString().Should().Be("Running");
            tuner.GetProperty("pages_to_scan").GetInt64().Should().Be(300);
            tuner.GetProperty("daemon_pid").ValueKind.Should().Be(JsonValueKind.Null);
            tuner.GetProperty("why").GetString().Should().Contain("start ksmd");
        }

        // A second cycle keeps raising, up to maxPages.
        _box.Run("ksm", "tune", "--once", "--mode", "customized", "--thres-coef", "100", "--boost", "1000",
            "--max-pages", "1200").Exit.Should().Be(0);
        RealKsm.Number("pages_to_scan").Should().Be(1200);
    }

    [Fact]
    public void Once_with_thresCoef_0_stops_ksmd_and_decays_pages()
    {
        RealKsm.Write("pages_to_scan", "1000");
        RealKsm.Write("run", "1");
        var (exit, stdout, stderr) = _box.Run("ksm", "tune", "--once", "--mode", "high", "--thres-coef", "0");
        exit.Should().Be(0, stderr);
        RealKsm.Read("run").Should().Be("0");
        RealKsm.Number("pages_to_scan").Should().Be(950);
        stdout.Should().Contain("stop ksmd (shared pages stay)");

        // Unmerge mode left behind (run=2, nothing holding the lock) is replaced by the decision, never kept.
        Unmerged();
        RealKsm.Write("run", "2");
        var again = _box.Run("ksm", "tune", "--once", "--mode", "high", "--thres-coef", "0");
        again.Exit.Should().Be(0, again.Stderr);
        again.Stdout.Should().StartWith("run was 2 (unmerge mode left behind), replaced; free ");
        RealKsm.Read("run").Should().Be("0");
    }

    [Fact]
    public void Bad_values_change_nothing_and_exit_2()
    {
        RealKsm.Write("run", "0");
        RealKsm.Write("pages_to_scan", "123");
        var conf = Path.Combine(_box.Dir, "ksmtuned.conf");
        File.WriteAllText(conf, "KSM_NPAGES_BOOST=lots\n");
        foreach (var (args, env, message) in new (string[], (string, string)?, string)[]
        {
            (["ksm", "tune", "--once", "--thres-coef", "150"], null, "largeguest: error: --thres-coef: bad value " +
                "'150' (expected: a whole number from 0 to 100)"),
            (["ksm", "tune", "--once", "--mode", "high", "--boost", "5"], null, "largeguest: error: --boost: only " +
                "used with --mode customized (the mode given is high)"),
            (["ksm", "tune", "--once", "--merge-across-nodes", "2"], null, "largeguest: error: --merge-across-nodes: " +
                "bad value '2' (expected: 0 or 1)"),
            (["ksm", "tune", "--once"], ("LARGEGUEST__KsmTune__KsmtunedConf", conf), $"largeguest: error: {conf}:1: " +
                $"KSM_NPAGES_BOOST: bad value 'lots' (expected: a whole number from 0 to 4294967295)"),
            (["ksm", "tune", "--once"], ("LARGEGUEST__KsmTune__MaxPages", "0"), $"largeguest: error: " +
                $"{_box.ConfigPath}: KsmTune:MaxPages: bad value '0' (expected: a whole number from 1 to 4294967295)"),
        })
        {
            var result = RunWith(env, args);
            result.Exit.Should().Be(2, string.Join(' ', args));
            result.Stderr.TrimEnd('\n').Should().Be(message);
            result.Stdout.Should().BeEmpty();
            RealKsm.Read("run").Should().Be("0");
            RealKsm.Number("pages_to_scan").Should().Be(123);
        }
        File.Exists(Path.Combine(_box.StateDir, "ksmtune.json")).Should().BeFalse("nothing was decided");
    }

    private (int Exit, string Stdout, string Stderr) RunWith((string Key, string Value)? extra, string[] args)
    {
        var start = new ProcessStartInfo(Support.PublishedBinary.Path) { RedirectStandardError = true,
            RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Clear();
        foreach (var (k, v) in _box.Environment) start.Environment[k] = v;
        if (extra is var (key, value)) start.Environment[key] = value;
        using var p = Process.Start(start)!;
        return p.WaitForExitAndRead();
    }

    [Fact]
    public void Prune_unmerges_every_page_and_leaves_ksmd_stopped()
    {
        Unmerged();
        using var pages = new MergeablePages(64);
        RealKsm.MergeNow(pages, runAfter: 1);
        RealKsm.Number("pages_shared").Should().BeGreaterThan(0);
        RealKsm.Number("pages_sharing").Should().BeGreaterThanOrEqualTo(pages.Pages * 95 / 100);

        var (exit, stdout, stderr) = _box.Run("ksm", "prune");
        exit.Should().Be(0, stderr);
        RealKsm.Number("pages_shared").Should().Be(0);
        RealKsm.Number("pages_sharing").Should().Be(0);
        RealKsm.Read("run").Should().Be("0", "prune leaves ksmd stopped, never run=2");
        stdout.Should().StartWith("ksm prune: unmerged ").And.Contain("pages_shared now 0");
        using (var state = JsonDocument.Parse(_box.StateJson))
        {
            state.RootElement.GetProperty("phase").GetString().Should().Be("Pruned");
            state.RootElement.GetProperty("request").GetString().Should().Be("Prune");
        }

        // Pruned pauses the tuner's own cycles; ksm run hands ksmd back.
        _box.Run("ksm", "run").Exit.Should().Be(0);
        RealKsm.Read("run").Should().Be("1");
        _box.Run("ksm", "stop").Exit.Should().Be(0);
        RealKsm.Read("run").Should().Be("0");
    }

    [Fact]
    public async Task The_daemon_serves_metrics_on_loopback_retunes_on_signal_and_stops_ksmd_on_SIGTERM()
    {
        RealKsm.Write("run", "0");
        RealKsm.Write("pages_to_scan", "100");
        using var daemon = _box.Start("ksm", "tune", "--daemon", "--listen", "127.0.0.1:0", "--interval", "3600",
            "--mode", "high", "--thres-coef", "100");
        try { await DaemonChecks(daemon); }
        finally { if (!daemon.HasExited) daemon.Kill(); }
    }

    private async Task DaemonChecks(Process daemon)
    {
        var lines = new List<string>();
        var endpoint = await ReadUntil(daemon, lines, new Regex(@"metrics at http://(127\.0\.0\.1:\d+)/metrics"));
        lines.Should().Contain(l => l.StartsWith("<6>ksm tune: daemon started (pid ", StringComparison.Ordinal),
            "journald reads <6> as info: `journalctl -p warning` must not list the start");
        lines.Should().OnlyContain(l => Regex.IsMatch(l, "^<[346]>"), "every line carries its journald priority");
        var address = IPEndPoint.Parse(endpoint);
        IPAddress.IsLoopback(address.Address).Should().BeTrue();
        await WaitFor(() => RealKsm.Read("run") == "1" && RealKsm.Number("pages_to_scan") == 300, "the first cycle");

        // Idle connections (more than the old limit of 4) must not starve a real scraper.
        var idle = Enumerable.Range(0, 8).Select(_ => new System.Net.Sockets.TcpClient()).ToList();
        foreach (var c in idle) await c.ConnectAsync(address);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var response = await http.GetAsync($"http://{endpoint}/metrics");
        idle.ForEach(c => c.Dispose());
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.ToString().Should().Be("text/plain; version=0.0.4; charset=utf-8");
        var body = await response.Content.ReadAsStringAsync();
        var (types, samples) = PromParser.Parse(body);
        samples.Value("largeguest_ksm_run").Should().Be(1);
        samples.Value("largeguest_ksm_pages_to_scan").Should().Be(300);
        types["largeguest_ksm_full_scans_total"].Should().Be("counter");
        foreach (var file in Directory.EnumerateFiles(RealKsm.Root).Select(Path.GetFileName))
            samples.Should().Contain(s => s.Name.StartsWith(KsmMetrics.KernelMetric(file!).Name,
                StringComparison.Ordinal), $"every KSM file is exposed ({file})");
        samples.Value("largeguest_ksmtune_phase", ("phase", "running")).Should().Be(1);
        samples.Value("largeguest_ksmtune_phase", ("phase", "stopped")).Should().Be(0);
        samples.Value("largeguest_ksmtune_pages_to_scan").Should().Be(300);
        samples.Single(s => s.Name == "largeguest_ksmtune_last_decision").Labels.Should().Contain("action", "start");
        samples.Value("largeguest_ksmd_present").Should().Be(1);
        samples.Value("largeguest_ksmd_cpu_seconds_total").Should().BeGreaterThanOrEqualTo(0);
        PythonParser(body).Should().Contain("largeguest_ksmtune_phase gauge 3").And
            .Contain("largeguest_ksmd_cpu_seconds counter 1", "the reference parser names a counter family without " +
            "_total");

        (await http.GetAsync($"http://{endpoint}/nothing")).StatusCode.Should().Be(HttpStatusCode.NotFound);

        // A second daemon is refused; retune makes the running one cycle now (pages 300 -> 500).
        var second = _box.Run("ksm", "tune", "--daemon", "--listen", "");
        second.Exit.Should().Be(2);
        second.Stderr.Should().Contain($"another tuning daemon runs (pid {daemon.Id}");
        var retune = _box.Run("ksm", "retune");
        retune.Exit.Should().Be(0, retune.Stderr);
        retune.Stdout.Should().Be($"signalled the tuning daemon (pid {daemon.Id}) to retune\n");
        await WaitFor(() => RealKsm.Number("pages_to_scan") == 500, "a retune cycle after SIGHUP");
        // The kernel is written inside the cycle, the daemon's state right after it: poll the endpoint for the count.
        double cyclesSeen = 0;
        await WaitFor(() =>
        {
            cyclesSeen = PromParser.Parse(http.GetStringAsync($"http://{endpoint}/metrics").GetAwaiter().GetResult())
                .Samples.Value("largeguest_ksmtune_cycles_total");
            return cyclesSeen >= 2;
        }, "the retune cycle in the metrics");
        cyclesSeen.Should().Be(2, "one cycle at start, one for the SIGHUP");

        Kill(daemon.Id, 15).Should().Be(0);
        daemon.WaitForExit(TimeSpan.FromSeconds(15)).Should().BeTrue("SIGTERM ends the daemon");
        daemon.ExitCode.Should().Be(0, string.Join("\n", lines) + daemon.StandardError.ReadToEnd());
        RealKsm.Read("run").Should().Be("0", "the daemon stops ksmd when it ends");
        File.Exists(Path.Combine(_box.StateDir, "ksmtune.pid")).Should().BeFalse();
        _box.Run("ksm", "retune").Exit.Should().Be(2);
    }

    [Fact]
    public async Task The_hook_and_the_daemon_at_once_never_leave_run_2_behind()
    {
        RealKsm.Baseline(mergeAcrossNodes: true, run: 0);
        using var pages = new MergeablePages(128);
        using var vdsm = new VdsmHookRunner();
        var xml = File.ReadAllBytes(KsmProcesses.SampleXml);
        var env = new Dictionary<string, string> { ["LARGEGUEST__Ksm__StateDir"] = _box.StateDir,
            ["LARGEGUEST__Topology__Source"] = "sysfs" };
        // The daemon keeps ksmd running flat out (so pages are merged again between transitions) and cycles every
        // second; SIGHUPs make it cycle many times more while the hook's transitions run.
        using var daemon = _box.Start("ksm", "tune", "--daemon", "--listen", "", "--interval", "1", "--mode",
            "customized",
            "--thres-coef", "100", "--boost", "20000", "--max-pages", "20000", "--sleep-msec", "0");
        var daemonErr = daemon.StandardError.ReadToEndAsync();
        using var stop = new CancellationTokenSource();
        var signals = 0;
        var spam = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (!daemon.HasExited && File.Exists(TunerDaemon.PidPath(_box.StateDir))) // once it handles SIGHUP
                {
                    Kill(daemon.Id, 1);
                    Interlocked.Increment(ref signals);
                }
                await Task.Delay(20);
            }
            return Volatile.Read(ref signals);
        });
        var transitions = 0;
        try
        {
            string? previous = null;
            for (var round = 0; round < 6; round++)
            {
                await WaitFor(() => RealKsm.Number("pages_shared") > 0, $"ksmd merging again before round {round}");
                // Every round overlaps the daemon's retuning, however fast the hook is: 4 more SIGHUPs first.
                var asked = (round + 1) * 4;
                await WaitFor(() => Volatile.Read(ref signals) >= asked, $"{asked} SIGHUPs before round {round}");
                if (previous is not null)
                    vdsm.Run("after_vm_destroy", xml, new Dictionary<string,
                        string> { ["ksm_merge_across_nodes"] = "0" }, previous, env, TimeSpan.FromMinutes(3))
                        .ExitCodes.Should().Equal(0);
                var vm = $"7e7e7e7e-0000-4000-8000-{round:x12}";
                var value = round % 2 == 0 ? "0" : "1";
                var run = vdsm.Run("before_vm_start", xml, new Dictionary<string,
                    string> { ["ksm_merge_across_nodes"] = value }, vm, env, TimeSpan.FromMinutes(3));
                run.ExitCodes.Should().Equal([0], run.Stderr);
                if (run.Stderr.Contains("unmerged", StringComparison.Ordinal)) transitions++;
                RealKsm.Read("merge_across_nodes").Should().Be(value, run.Stderr);
                RealKsm.Read("run").Should().NotBe("2", $"round {round}: {run.Stderr}");
                File.Exists(Path.Combine(_box.StateDir, "ksm.journal")).Should().BeFalse();
                previous = vm;
            }
        }
        finally
        {
            stop.Cancel();
            Kill(daemon.Id, 15);
            if (!daemon.WaitForExit(TimeSpan.FromSeconds(30))) daemon.Kill();
        }
        var sighups = await spam;
        daemon.ExitCode.Should().Be(0, await daemonErr);
        var log = await daemonErr;
        log.Should().NotContain("cycle failed");
        transitions.Should().BeGreaterThanOrEqualTo(5, "each round but the first finds merged pages and must unmerge " +
            "them");
        sighups.Should().BeGreaterThan(20, "the daemon was asked to cycle throughout");
        RealKsm.Read("run").Should().Be("0", "the daemon stops ksmd when it ends; never 2");
        File.Exists(Path.Combine(_box.StateDir, "ksm.journal")).Should().BeFalse();
        using var state = JsonDocument.Parse(_box.StateJson);
        state.RootElement.GetProperty("cycles").GetInt64().Should().BeGreaterThan(10);
    }

    [Fact]
    public void Metrics_command_prints_parseable_text_with_ksmd_cpu()
    {
        var (exit, stdout, stderr) = _box.Run("ksm", "metrics");
        exit.Should().Be(0, stderr);
        var (_, samples) = PromParser.Parse(stdout);
        samples.Value("largeguest_ksm_present").Should().Be(1);
        samples.Value("largeguest_ksmtune_state_present").Should().Be(0, "a fresh state dir");
        samples.Value("largeguest_ksmd_cpu_utilization_ratio").Should().BeInRange(0, 1);
        samples.Value("largeguest_ksm_pages_to_scan").Should().Be(RealKsm.Number("pages_to_scan"));
    }

    private static async Task<string> ReadUntil(Process p, List<string> lines, Regex pattern)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var line = await p.StandardError.ReadLineAsync(cancel.Token)
                ?? throw new InvalidOperationException($"the daemon ended: {string.Join("\n", lines)}");
            lines.Add(line);
            if (pattern.Match(line) is { Success: true } m) return m.Groups[1].Value;
        }
    }

    private static Task WaitFor(Func<bool> condition, string what) =>
        Task.Run(() => Poll.Wait(condition, TimeSpan.FromSeconds(20), what, every: TimeSpan.FromMilliseconds(50)));

    /// <summary>The Prometheus project's own parser (python3-prometheus-client, installed by make test) must read it
    /// too.</summary>
    private static string PythonParser(string body)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true,
            RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("import sys\ntry:\n    from prometheus_client.parser import " +
            "text_string_to_metric_families as p\nexcept ImportError:\n    sys.exit('PROMETHEUS PARSER MISSING: apt " +
            "package python3-prometheus-client (make test installs it); not skipping')\nfor f in " +
            "p(sys.stdin.read()):\n    print(f.name, f.type, len(f.samples))");
        using var proc = Process.Start(start)!;
        proc.StandardInput.Write(body);
        proc.StandardInput.Close();
        var output = proc.StandardOutput.ReadToEnd();
        var error = proc.StandardError.ReadToEnd();
        proc.WaitForExit();
        proc.ExitCode.Should().Be(0, error);
        return output;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}

internal static class ProcessExtensions
{
    public static (int Exit, string Stdout, string Stderr) WaitForExitAndRead(this Process p)
    {
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(); throw new TimeoutException("largeguest hung"); }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
