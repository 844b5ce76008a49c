using Largeguest.Ksm;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Largeguest.Ksm.Tuning;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Ksm.Tuning;

/// <summary>The tuner's small readers and writers: /proc parsing, the exposition format, the systemd unit.</summary>
public class TunerPiecesTests
{
    [Fact]
    public void A_pid_file_naming_another_program_with_the_daemons_words_is_no_running_daemon()
    {
        var dir = Directory.CreateTempSubdirectory("largeguest-pid-").FullName;
        using var impostor = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "sleep 30", "ksm", "tune",
            "--daemon"]))!;
        try
        {
            File.ReadAllText($"/proc/{impostor.Id}/cmdline").Split('\0').Should()
                .Contain(["tune", "--daemon"], "the old check would take it");
            File.WriteAllText(TunerDaemon.PidPath(dir), $"{impostor.Id}\n");
            TunerDaemon.RunningDaemon(dir).Should().BeNull("its /proc/PID/exe is /bin/sh (dash), not largeguest");
        }
        finally { impostor.Kill(entireProcessTree: true); Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Meminfo_prefers_MemAvailable_and_falls_back_to_ksmtuned_sum()
    {
        var m = MemInfo.Parse("MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:    5000000 " +
            "kB\nBuffers:           20000 kB\nCached:           300000 kB\n");
        m.TotalKiB.Should().Be(24576000);
        m.UsableKiB.Should().Be(5000000);
        var old = MemInfo.Parse("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 30 kB\n");
        old.UsableKiB.Should().Be(140, "ksmtuned's MemFree+Buffers+Cached on kernels without MemAvailable");
        FluentActions.Invoking(() => MemInfo.Parse("MemFree: 1 kB\n", "/proc/meminfo")).Should().Throw<KsmException>()
            .WithMessage("/proc/meminfo: no MemTotal line");
        FluentActions.Invoking(() => MemInfo.Parse("MemTotal: x kB\n", "/proc/meminfo")).Should().Throw<KsmException>()
            .WithMessage("/proc/meminfo: MemTotal: unreadable value 'x kB'");
    }

    [Fact]
    public void Meminfo_of_this_host_is_sane()
    {
        var m = MemInfo.Read();
        m.TotalKiB.Should().BeGreaterThan(1024 * 1024);
        m.UsableKiB.Should().BeInRange(1, m.TotalKiB);
    }

    [Theory]
    [InlineData("qemu-kvm", true)]
    [InlineData("qemu-system-x86", true)]  // comm is cut at 15 characters
    [InlineData("qemu-system-aar", true)]
    [InlineData("qemu:db01", true)]
    [InlineData("qemu-img", false)]
    [InlineData("qemu-ga", false)]
    [InlineData("qemu-system-", false)]
    [InlineData("xqemu-kvm", false)]
    public void Qemu_processes_are_found_by_ksmtuned_pattern(string name, bool match) =>
        CommittedMemory.QemuName().IsMatch(name).Should().Be(match);

    [Fact]
    public void Status_parsing_takes_name_and_rss()
    {
        CommittedMemory.ParseStatus("Name:\tqemu-kvm\nUmask:\t0022\nVmRSS:\t  123456 kB\n")
            .Should().Be(("qemu-kvm", 123456L));
        CommittedMemory.ParseStatus("Name:\tkthreadd\nState:\tS\n").Should().Be(("kthreadd", 0L));
    }

    [Fact]
    public void A_real_qemu_named_process_counts_with_its_resident_memory()
    {
        var dir = Directory.CreateTempSubdirectory("ksmtune-qemu");
        try
        {
            // A real process whose comm is qemu-system-* (as a guest's is), holding 32 MiB resident.
            var fake = Path.Combine(dir.FullName, "qemu-system-x86_64");
            File.CreateSymbolicLink(fake, "/usr/bin/python3"); // comm comes from the name exec'd, not the link's target
            var start = new ProcessStartInfo(fake) { RedirectStandardInput = true, RedirectStandardOutput = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("import sys\nb = bytearray(b'x' * (32 << 20))\nprint('ready', " +
                "flush=True)\nsys.stdin.read()");
            using var p = Process.Start(start)!;
            try
            {
                p.StandardOutput.ReadLine().Should().Be("ready");
                var found = CommittedMemory.Processes().Where(q => q.Pid == p.Id).ToList();
                found.Should().ContainSingle().Which.Name.Should().Be("qemu-system-x86");
                found[0].RssKiB.Should().BeGreaterThan(32 * 1024);
                CommittedMemory.TotalKiB().Should().BeGreaterThanOrEqualTo(found[0].RssKiB);
            }
            finally { p.StandardInput.Close(); p.WaitForExit(10_000); }
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void Proc_stat_parsing_survives_spaces_and_parentheses_in_the_name()
    {
        var line = "1234 (my (odd) name) S 2 0 0 0 -1 69238880 0 0 0 0 77 33 0 0 20 0 1 0 32 0 0 " +
            "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0\n";
        KsmdCpu.ParseStat(line).Should().Be(("my (odd) name", 2, 77L, 33L));
        FluentActions.Invoking(() => KsmdCpu.ParseStat("garbage")).Should().Throw<KsmTuneException>();
    }

    [Fact]
    public void Cpu_percent_is_ticks_over_wall_time()
    {
        var t0 = Stopwatch.GetTimestamp();
        var before = new CpuSample(7, 1000, 100, t0);
        var after = new CpuSample(7, 1050, 100, t0 + Stopwatch.Frequency * 2); // 0.5 s of CPU in 2 s
        KsmdCpu.Percent(before, after).Should().BeApproximately(25, 1e-9);
        KsmdCpu.Percent(before, before).Should().Be(0);
        after.Seconds.Should().Be(10.5);
    }

    [Fact]
    public void The_real_ksmd_is_found_as_a_kernel_thread()
    {
        var pid = KsmdCpu.FindPid();
        pid.Should().NotBeNull("this kernel has KSM, so it has a ksmd thread");
        File.ReadAllText($"/proc/{pid}/comm").Trim().Should().Be("ksmd");
        var sample = KsmdCpu.Sample(pid!.Value);
        sample.ClockTicksPerSecond.Should().Be(100);
        sample.Ticks.Should().BeGreaterThanOrEqualTo(0);
    }

    [Fact]
    public void Exposition_escapes_and_declares_each_family_once()
    {
        var p = new PrometheusText()
            .Family("x_total", MetricType.Counter, "help with \\ and\nnewline").Sample(3)
            .Family("y", MetricType.Gauge, "labels").Sample(1.5, ("why", "a \"quoted\" \\ path\nnext"), ("b", "c"))
            .Single("z", MetricType.Gauge, "special", double.NaN);
        p.ToString().Should().Be(
            "# HELP x_total help with \\\\ and\\nnewline\n# TYPE x_total counter\nx_total 3\n" +
            "# HELP y labels\n# TYPE y gauge\ny{why=\"a \\\"quoted\\\" \\\\ path\\nnext\",b=\"c\"} 1.5\n" +
            "# HELP z special\n# TYPE z gauge\nz NaN\n");
        var (_, samples) = PromParser.Parse(p.ToString());
        samples.Single(s => s.Name == "y").Labels["why"].Should().Be("a \"quoted\" \\ path\nnext");
        FluentActions.Invoking(() => new PrometheusText().Family("bad-name", MetricType.Gauge, ""))
            .Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => new PrometheusText().Family("a", MetricType.Gauge, "").Sample(1, ("__x", "1")))
            .Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => new PrometheusText().Family("a", MetricType.Gauge, "").Family("a",
            MetricType.Gauge, "")).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void The_tuner_state_file_round_trips_every_field_and_keeps_its_format()
    {
        var state = new TunerState
        {
            Request = TunerRequest.Prune, Phase = TunerPhase.Pruned, Mode = "high", PagesToScan = 300,
            SleepMillisecs = 20, ThresholdKiB = 2048, TotalKiB = 4096, FreeKiB = 1024, CommittedKiB = 512,
            LastAction = "prune", Why = "asked <by> \"admin\"", At = new DateTimeOffset(2026, 12, 3, 13, 52, 1,
            TimeSpan.Zero).AddTicks(1234567), Cycles = 4, Errors = 1, LastError = "x", SwapFreeKiB = 7,
            SwapNeedKiB = 8, SwapCovered = false, Swap = "swap 7 KiB",
        };
        var json = state.ToJson();
        TunerState.Parse(json).Should().Be(state);
        // The file as earlier versions wrote it (camelCase, enum names): a daemon restarted by an upgrade reads it.
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        doc.RootElement.GetProperty("phase").GetString().Should().Be("Pruned");
        doc.RootElement.GetProperty("pagesToScan").GetInt64().Should().Be(300);
        doc.RootElement.GetProperty("thresholdKiB").GetInt64().Should().Be(2048);
        System.Text.Encoding.UTF8.GetString(json).Should().Contain("\"asked <by> \\\"admin\\\"\"", "readable escaping");
        TunerState.Parse("""{ "phase": "running", "future": { "x": [1] }, "cycles": 2 }"""u8)
            .Should().Be(new TunerState { Phase = TunerPhase.Running, Cycles = 2 }, "unknown fields are skipped");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("""{ "phase": "Sleeping" }""")]
    [InlineData("""{ "cycles": "many" }""")]
    [InlineData("""{ "at": "yesterday" }""")]
    [InlineData("""{ "cycles": 1""")]
    public void A_damaged_tuner_state_file_is_reported_and_ignored(string json)
    {
        var dir = Directory.CreateTempSubdirectory("largeguest-tunerstate-").FullName;
        try
        {
            File.WriteAllText(TunerState.PathIn(dir), json);
            var warnings = new List<string>();
            TunerState.Load(dir, warnings.Add).Should().BeNull();
            warnings.Should().ContainSingle().Which.Should().Contain("unreadable tuner state ignored");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Metrics_render_kernel_files_tuner_state_and_ksmd()
    {
        var ksm = new Dictionary<string, string> { ["run"] = "1", ["full_scans"] = "17", ["pages_sharing"] = "1368772",
            ["advisor_mode"] = "[none] scan-time", ["general_profit"] = "-4096", ["sleep_millisecs"] = "200",
            ["ksm_zero_pages"] = "5", ["pages_skipped"] = "9" };
        var state = new TunerState { Phase = TunerPhase.Running, Mode = "high", PagesToScan = 300,
            LastAction = "start", Why = "free 1 GiB < threshold", Cycles = 4,
            At = DateTimeOffset.FromUnixTimeSeconds(1700000000) };
        var text = KsmMetrics.Render(ksm, state, new CpuSample(42, 250, 100, 0), 12.5);
        var (types, samples) = PromParser.Parse(text);
        samples.Value("largeguest_ksm_run").Should().Be(1);
        samples.Value("largeguest_ksm_full_scans_total").Should().Be(17);
        types["largeguest_ksm_full_scans_total"].Should().Be("counter");
        samples.Value("largeguest_ksm_pages_sharing").Should().Be(1368772);
        samples.Value("largeguest_ksm_general_profit_bytes").Should().Be(-4096);
        samples.Value("largeguest_ksm_sleep_seconds").Should().Be(0.2, "base units: seconds, not millisecs");
        samples.Value("largeguest_ksm_zero_pages").Should().Be(5, "no ksm_ksm_ stutter");
        samples.Value("largeguest_ksm_pages_skipped_total").Should().Be(9);
        types["largeguest_ksm_pages_skipped_total"].Should().Be("counter");
        samples.Single(x => x.Name == "largeguest_build_info").Labels["version"].Should().MatchRegex(@"^\d+\.\d+\.\d+");
        samples.Should().NotContain(x => x.Name.Contains("millisec") || x.Name.Contains("percent")
            || x.Name.Contains("ksm_ksm_"));
        samples.SelectMany(x => x.Labels.Values).Should()
            .OnlyContain(v => v == v.ToLowerInvariant() || Regex.IsMatch(v, @"^\d"), "one label-value case");
        samples.Value("largeguest_ksm_advisor_mode", ("value", "none")).Should().Be(1);
        samples.Value("largeguest_ksm_advisor_mode", ("value", "scan-time")).Should().Be(0);
        samples.Value("largeguest_ksmtune_phase", ("phase", "running")).Should().Be(1);
        samples.Value("largeguest_ksmtune_phase", ("phase", "pruned")).Should().Be(0);
        samples.Value("largeguest_ksmtune_request", ("request", "run")).Should().Be(1);
        samples.Value("largeguest_ksmtune_last_decision", ("action", "start"), ("mode", "high")).Should().Be(1);
        samples.Single(x => x.Name == "largeguest_ksmtune_last_decision").Labels.Keys
            .Should().BeEquivalentTo(["action", "mode"], "no free-text label: a why with live numbers makes a new " +
            "series every cycle");
        samples.Value("largeguest_ksmtune_last_decision_timestamp_seconds").Should().Be(1700000000);
        samples.Value("largeguest_ksmtune_cycles_total").Should().Be(4);
        samples.Value("largeguest_ksmd_cpu_seconds_total").Should().Be(2.5);
        samples.Value("largeguest_ksmd_cpu_utilization_ratio").Should().Be(0.125);

        var bare = PromParser.Parse(KsmMetrics.Render(new Dictionary<string, string>(), null, null, null)).Samples;
        bare.Value("largeguest_ksm_present").Should().Be(0);
        bare.Value("largeguest_ksmtune_state_present").Should().Be(0);
        bare.Value("largeguest_ksmd_present").Should().Be(0);
    }

    [Fact]
    public void The_systemd_unit_passes_systemd_analyze_verify()
    {
        var unit = Path.Combine(PublishedBinary.RepoRoot, "packaging", "largeguest-ksmtune.service");
        var text = File.ReadAllText(unit);
        foreach (var hardening in new[] { "NoNewPrivileges=yes", "ProtectSystem=strict",
            "ReadWritePaths=/sys/kernel/mm/ksm /run/vdsm-hook-largeguest", "ProtectHome=yes", "PrivateTmp=yes",
            "Conflicts=ksmtuned.service ksm.service" })
            text.Should().Contain(hardening);
        const string analyze = "/usr/bin/systemd-analyze";
        if (!File.Exists(analyze))
            throw new InvalidOperationException("SYSTEMD-ANALYZE MISSING: apt package systemd (make test installs " +
                "it); the unit was NOT verified; not skipping");
        // verify checks that ExecStart exists: point it at the published binary in a copy of the unit.
        var dir = Directory.CreateTempSubdirectory("ksmtune-unit");
        try
        {
            var copy = Path.Combine(dir.FullName, "largeguest-ksmtune.service");
            File.WriteAllText(copy, text.Replace("/usr/libexec/vdsm-hook-largeguest/largeguest", PublishedBinary.Path,
                StringComparison.Ordinal));
            var (exit, output) = Run(analyze, "verify", copy);
            exit.Should().Be(0, output);
            output.Should().BeEmpty("systemd-analyze verify reports unknown keys and bad values on stderr with exit 0");

            // It must be able to fail: a misspelt key is reported.
            File.WriteAllText(copy, text.Replace("NoNewPrivileges=", "NoNewPrivilege=",
                StringComparison.Ordinal).Replace("/usr/libexec/vdsm-hook-largeguest/largeguest", PublishedBinary.Path,
                StringComparison.Ordinal));
            Run(analyze, "verify", copy).Output.Should().Contain("Unknown key 'NoNewPrivilege'");
        }
        finally { dir.Delete(recursive: true); }
    }

    private static (int Exit, string Output) Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, (stdout.Result + stderr).Trim());
    }
}
