using System.Text.Json;
using System.Text.Json.Serialization;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// What the administrator asked of the tuner: tune (run), leave ksmd stopped (stop), stop and unmerge (prune).
/// </summary>
public enum TunerRequest { Run, Stop, Prune }

/// <summary>The tuner's phase (Harvester's ksmdPhase): what it last left ksmd doing.</summary>
public enum TunerPhase { Running, Stopped, Pruned }

/// <summary>
/// The tuner's state, kept in <c>&lt;Ksm:StateDir&gt;/ksmtune.json</c> (under /run: gone at reboot, like KSM's own
/// state) so that <c>ksm status</c>, <c>ksm metrics</c> and the daemon after a restart see the last decision.
/// </summary>
public sealed record TunerState
{
    public const string FileName = "ksmtune.json";
    public const string PidFileName = "ksmtune.pid";

    public TunerRequest Request { get; init; } = TunerRequest.Run;
    public TunerPhase Phase { get; init; } = TunerPhase.Stopped;
    public string Mode { get; init; } = "";
    public long PagesToScan { get; init; }
    public long SleepMillisecs { get; init; }
    public long ThresholdKiB { get; init; }
    public long TotalKiB { get; init; }
    public long FreeKiB { get; init; }
    public long CommittedKiB { get; init; }
    /// <summary>start or stop (a cycle), run, stop or prune (the administrator's commands).</summary>
    public string LastAction { get; init; } = "";
    public string Why { get; init; } = "";
    public DateTimeOffset At { get; init; }
    public long Cycles { get; init; }
    public long Errors { get; init; }
    public string LastError { get; init; } = "";
    /// <summary>
    /// The last cycle's swap check (<see cref="SwapCover"/>): SwapFree, what unsharing every merged page needs, whether
    /// swap + free covers it.
    /// </summary>
    public long SwapFreeKiB { get; init; }
    public long SwapNeedKiB { get; init; }
    public bool SwapCovered { get; init; } = true;
    public string Swap { get; init; } = "";

    public static string PathIn(string stateDir) => System.IO.Path.Combine(stateDir, FileName);

    /// <summary>
    /// The saved state, or null when the tuner has not run since boot. A damaged file is reported, not fatal.
    /// </summary>
    public static TunerState? Load(string stateDir, Action<string>? warn = null)
    {
        var path = PathIn(stateDir);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize(File.ReadAllBytes(path), TunerStateJson.Default.TunerState); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            warn?.Invoke($"{path}: unreadable tuner state ignored: {e.Message}");
            return null;
        }
    }

    public void Save(string stateDir) =>
        StateFile.Write(PathIn(stateDir), JsonSerializer.SerializeToUtf8Bytes(this, TunerStateJson.Default.TunerState));

    /// <summary>
    /// The tuner's object in <c>largeguest ksm status --json</c>: null fields before the tuner first ran.
    /// </summary>
    public static void WriteStatusJson(Utf8JsonWriter w, TunerState? state, int? daemonPid)
    {
        w.WriteStartObject();
        if (daemonPid is int pid) w.WriteNumber("daemon_pid", pid); else w.WriteNull("daemon_pid");
        if (state is null) w.WriteNull("phase");
        else
        {
            w.WriteString("phase", state.Phase.ToString());
            w.WriteString("request", state.Request.ToString().ToLowerInvariant());
            w.WriteString("mode", state.Mode);
            w.WriteNumber("pages_to_scan", state.PagesToScan);
            w.WriteNumber("sleep_millisecs", state.SleepMillisecs);
            w.WriteNumber("threshold_kib", state.ThresholdKiB);
            w.WriteNumber("free_kib", state.FreeKiB);
            w.WriteNumber("committed_kib", state.CommittedKiB);
            w.WriteString("last_action", state.LastAction);
            w.WriteString("why", state.Why);
            w.WriteString("at", Timestamp.Text(state.At));
            w.WriteNumber("cycles", state.Cycles);
            w.WriteNumber("errors", state.Errors);
            w.WriteString("last_error", state.LastError);
            w.WriteNumber("swap_free_kib", state.SwapFreeKiB);
            w.WriteNumber("swap_need_kib", state.SwapNeedKiB);
            w.WriteBoolean("swap_covered", state.SwapCovered);
        }
        w.WriteEndObject();
    }

    /// <summary>
    /// The tuner's lines of <c>largeguest ksm status</c>; <paramref name="daemonPid"/> from the pid file.
    /// </summary>
    public static IEnumerable<string> StatusLines(TunerState? state, int? daemonPid)
    {
        yield return "tuner:";
        yield return $"  daemon:          {(daemonPid is int pid ? $"running (pid {pid})" : "not running")}";
        if (state is null)
        {
            yield return "  state:           none recorded since boot " +
                "('largeguest ksm tune --once' or the daemon records it)";
            yield break;
        }
        yield return $"  phase:           {state.Phase} " +
            $"(asked: {state.Request.ToString().ToLowerInvariant()}, mode {state.Mode})";
        yield return $"  pages_to_scan:   {state.PagesToScan}";
        yield return $"  sleep_millisecs: {state.SleepMillisecs}";
        yield return $"  last decision:   {state.LastAction} at {state.At:u}";
        yield return $"  why:             {state.Why}";
        if (state.Swap.Length > 0) yield return $"  last cycle swap: {state.Swap}";
        yield return $"  cycles:          {state.Cycles} " +
            $"({state.Errors} failed{(state.LastError.Length > 0 ? $"; last error: {state.LastError}" : "")})";
    }
}

/// <summary>
/// The tuning service's parts of <c>largeguest ksm status</c>: its recorded state and daemon, and the swap check now.
/// </summary>
public static class TunerStatus
{
    public static KsmStatus With(KsmStatus status, string stateDir, Action<string>? warn = null) => status with
    {
        Tuner = new Section(TunerState.Load(stateDir, warn), TunerDaemon.RunningDaemon(stateDir)),
        Swap = status.State.Present
            ? SwapCover.Of(MemInfo.Read(), CommittedMemory.TotalKiB(), status.State.UnmergeCostPages, status.PageSize)
            : null,
    };

    private sealed class Section(TunerState? state, int? daemonPid) : IKsmStatusSection
    {
        public IEnumerable<string> Lines => TunerState.StatusLines(state, daemonPid);

        public void WriteJson(Utf8JsonWriter w) => TunerState.WriteStatusJson(w, state, daemonPid);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(TunerState))]
internal sealed partial class TunerStateJson : JsonSerializerContext;
