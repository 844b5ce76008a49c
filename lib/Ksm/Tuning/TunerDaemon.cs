using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// <c>largeguest ksm tune --daemon</c>: a cycle every interval (KSM_MONITOR_INTERVAL), soon after a guest starts or
/// stops (<see cref="GuestWatch"/>, debounced), at once on SIGHUP (<c>largeguest ksm retune</c>), the metrics endpoint
/// and textfile, a pid file in Ksm:StateDir. SIGTERM/SIGINT end it: ksmd is stopped (shared pages stay), as Harvester's
/// tuner does.
/// </summary>
public sealed class TunerDaemon(KsmTuner tuner, ITunerHost host, string stateDir, DaemonLog log)
{
    private readonly SemaphoreSlim _wake = new(0);
    private readonly object _cpuGate = new();
    private CpuSample? _lastCpu;
    private double? _lastPercent;
    private volatile TunerState? _state;

    /// <summary>
    /// A guest start/stop waits this long for more before its cycle, and at most <see cref="GuestMaxDelay"/>.
    /// </summary>
    public static readonly TimeSpan GuestQuiet = TimeSpan.FromSeconds(1), GuestMaxDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The endpoint, once <see cref="Run"/> has bound it (tests ask for port 0 and read the real one here).
    /// </summary>
    public MetricsEndpoint? Endpoint { get; private set; }

    public static string PidPath(string stateDir) => Path.Combine(stateDir, TunerState.PidFileName);

    /// <summary>Asks for an immediate cycle (what SIGHUP does).</summary>
    public void Retune() => _wake.Release();

    public async Task<int> Run(CancellationToken cancel)
    {
        var settings = tuner.Settings;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => { c.Cancel = true; Retune(); });
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        // Only now: `ksm retune` signals the pid it finds, and SIGHUP's default action would end the daemon.
        ClaimPidFile();
        GuestWatch? watch = null;
        try
        {
            log.Info($"ksm tune: daemon started (pid {Environment.ProcessId}): {settings.Summary}");
            if (settings.Listen is { } listen)
            {
                Endpoint = new MetricsEndpoint(listen, Scrape, log);
                Endpoint.Start();
                log.Info($"ksm tune: metrics at http://{Endpoint.Bound}/metrics");
            }
            if (settings.GuestStateDir is { } guestDir)
            {
                watch = new GuestWatch(guestDir, new CycleDebounce(GuestQuiet, GuestMaxDelay), what =>
                {
                    log.Info($"ksm tune: guests {what}: cycle");
                    Retune();
                }, log);
                watch.Start();
                log.Info($"ksm tune: watching {guestDir} for guest start/stop");
            }
            TunerOutcome? last = null;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var outcome = tuner.Cycle();
                    _state = outcome.State;
                    foreach (var note in settings.Debug ? outcome.Notes : News(outcome, last))
                        log.Info($"ksm tune: {note}");
                    last = outcome;
                }
                catch (Exception e) when (e is KsmException or IOException or UnauthorizedAccessException)
                {
                    _state = tuner.RecordError(e.Message);
                    log.Error($"ksm tune: cycle failed: {e.Message}");
                }
                SampleCpu();
                WriteTextfile(settings.TextfilePath);
                // A cycle allocates a little (it reads every /proc/PID/status); the GC's first generation is sized for
                // throughput (megabytes on a large host), so between minute-long sleeps give the memory back at once:
                // it keeps the service's resident set near its start-up size (make bench) for well under a millisecond.
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                try { await _wake.WaitAsync(settings.Interval, stop.Token); }
                catch (OperationCanceledException) { break; }
                while (_wake.Wait(0)) { } // several SIGHUPs while busy ask for one cycle
            }
            Shutdown();
            return 0;
        }
        finally
        {
            watch?.Dispose();
            if (Endpoint is not null) await Endpoint.DisposeAsync();
            ReleasePidFile();
        }
    }

    /// <summary>
    /// The daemon's last word: ksmd stopped when the tuner had it running (shared pages stay shared).
    /// </summary>
    private void Shutdown()
    {
        try
        {
            var state = tuner.Current();
            if (state.Request == TunerRequest.Run && state.Phase == TunerPhase.Running)
            {
                using (host.Lock()) host.WriteRun(KsmRun.Stop);
                (state with
                {
                    Phase = TunerPhase.Stopped, LastAction = "stop",
                    Why = "daemon stopped: ksmd stopped, shared pages stay", At = DateTimeOffset.UtcNow
                }).Save(stateDir);
                log.Info("ksm tune: daemon stopping: ksmd stopped (shared pages stay shared)");
            }
            else log.Info("ksm tune: daemon stopping");
        }
        catch (Exception e) when (e is KsmException or IOException or UnauthorizedAccessException)
        { log.Error($"ksm tune: daemon stopping: could not stop ksmd: {e.Message}"); }
    }

    /// <summary>
    /// The lines of a cycle worth the journal after <paramref name="last"/>: the decision's reason only when its kind
    /// changed (start, start gently, stop: not the numbers moving within it), any other line unless it repeats the last
    /// cycle's final line (a paused tuner says so once).
    /// </summary>
    public static IEnumerable<string> News(TunerOutcome now, TunerOutcome? last)
    {
        var lastLine = last?.Notes.LastOrDefault();
        for (var i = 0; i < now.Notes.Count; i++)
        {
            var isReason = now.Decision is not null && i == now.Notes.Count - 1;
            if (isReason ? now.Decision!.Kind != last?.Decision?.Kind : now.Notes[i] != lastLine)
                yield return now.Notes[i];
        }
    }

    public string RenderMetrics()
    {
        var ksm = host.ReadKsm();
        var (cpu, percent) = SampleCpu();
        return KsmMetrics.Render(ksm, _state ?? tuner.Current(), cpu, percent);
    }

    /// <summary>
    /// A scrape's answer, rendered at most once a second (several scrapers, or one in a loop, cost one render) and with
    /// no forced collection: that is the cycle's, once a minute, not something a client can trigger at will.
    /// </summary>
    private string Scrape()
    {
        lock (_scrapeLock)
        {
            var now = Environment.TickCount64;
            if (_scraped is { } last && now - last.AtMs < ScrapeCacheMs) return last.Text;
            var text = RenderMetrics();
            _scraped = (text, now);
            return text;
        }
    }

    private const long ScrapeCacheMs = 1000;
    private readonly Lock _scrapeLock = new();
    private (string Text, long AtMs)? _scraped;

    /// <summary>
    /// A fresh sample of ksmd, with the utilisation since the previous one (cycle or scrape) when at least 0.5 s apart.
    /// </summary>
    private (CpuSample?, double?) SampleCpu()
    {
        lock (_cpuGate)
        {
            try
            {
                // ksmd lives as long as the kernel: find it once, look again only if it is gone.
                if (_lastCpu is not CpuSample { Pid: var pid } || !KsmdCpu.IsKsmd(pid))
                {
                    if (KsmdCpu.FindPid() is not int found) return (null, null);
                    pid = found;
                }
                var now = KsmdCpu.Sample(pid);
                if (_lastCpu is CpuSample last && last.Pid == pid)
                {
                    if (System.Diagnostics.Stopwatch.GetElapsedTime(last.TimestampTicks, now.TimestampTicks)
                        < TimeSpan.FromMilliseconds(500))
                        return (now, _lastPercent);
                    _lastPercent = KsmdCpu.Percent(last, now);
                }
                _lastCpu = now;
                return (now, _lastPercent);
            }
            catch (KsmTuneException e) { log.Warning($"ksm tune: ksmd CPU: {e.Message}"); return (null, null); }
        }
    }

    private void WriteTextfile(string? path)
    {
        if (path is null) return;
        try { StateFile.Write(path, Encoding.UTF8.GetBytes(RenderMetrics())); }
        catch (KsmException e) { log.Warning($"ksm tune: textfile: {e.Message}"); }
    }

    private void ClaimPidFile()
    {
        var path = PidPath(stateDir);
        if (RunningDaemon(stateDir) is int other && other != Environment.ProcessId)
            throw new KsmTuneException(
                $"another tuning daemon runs (pid {other}, {path}); 'largeguest ksm retune' signals it");
        StateFile.Write(path, Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
    }

    private void ReleasePidFile()
    {
        var path = PidPath(stateDir);
        try { if (RunningDaemon(stateDir) == Environment.ProcessId) File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>
    /// The pid in the pid file when that process is alive, runs this very executable (its <c>/proc/PID/exe</c> is ours:
    /// a recycled pid or another program with the same words on its command line is not a daemon) and was started as
    /// <c>ksm tune --daemon</c>; null otherwise.
    /// </summary>
    public static int? RunningDaemon(string stateDir)
    {
        try
        {
            var text = File.ReadAllText(PidPath(stateDir)).Trim();
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
                return null;
            if (Executable($"/proc/{pid}/exe") is not { } exe || exe != Executable("/proc/self/exe")) return null;
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return cmdline.Contains("tune") && cmdline.Contains("--daemon") ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// The program a process runs; an upgrade that replaced the file while it ran still names the same path.
    /// </summary>
    private static string? Executable(string procExe) =>
        new FileInfo(procExe).LinkTarget?.Replace(" (deleted)", "", StringComparison.Ordinal);

    /// <summary><c>largeguest ksm retune</c>: SIGHUP to the daemon named by the pid file.</summary>
    public static int SignalRetune(string stateDir)
    {
        var pid = RunningDaemon(stateDir) ?? throw new KsmTuneException(
            $"no tuning daemon runs ({PidPath(stateDir)} names no live 'largeguest ksm tune --daemon'); " +
            "start it with 'systemctl start largeguest-ksmtune'");
        const int SigHup = 1;
        if (Native.Kill(pid, SigHup) != 0)
            throw new KsmTuneException($"cannot signal the tuning daemon (pid {pid}): " +
                $"{Native.Describe(Marshal.GetLastPInvokeError())}");
        return pid;
    }
}
