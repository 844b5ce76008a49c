using System.Text.Json;
using Largeguest.IO;

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
        try { return Parse(File.ReadAllBytes(path)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException
            or InvalidOperationException or FormatException)
        {
            warn?.Invoke($"{path}: unreadable tuner state ignored: {e.Message}");
            return null;
        }
    }

    public void Save(string stateDir) => StateFile.Write(PathIn(stateDir), ToJson());

    // The file's fields, camelCase as it has always been written (a daemon restarted by an upgrade reads the old
    // file); unknown fields are ignored and missing ones keep their defaults.
    internal byte[] ToJson() => JsonText.Utf8(w =>
    {
        w.WriteStartObject();
        w.WriteString("request", Request.ToString());
        w.WriteString("phase", Phase.ToString());
        w.WriteString("mode", Mode);
        w.WriteNumber("pagesToScan", PagesToScan);
        w.WriteNumber("sleepMillisecs", SleepMillisecs);
        w.WriteNumber("thresholdKiB", ThresholdKiB);
        w.WriteNumber("totalKiB", TotalKiB);
        w.WriteNumber("freeKiB", FreeKiB);
        w.WriteNumber("committedKiB", CommittedKiB);
        w.WriteString("lastAction", LastAction);
        w.WriteString("why", Why);
        w.WriteString("at", At);
        w.WriteNumber("cycles", Cycles);
        w.WriteNumber("errors", Errors);
        w.WriteString("lastError", LastError);
        w.WriteNumber("swapFreeKiB", SwapFreeKiB);
        w.WriteNumber("swapNeedKiB", SwapNeedKiB);
        w.WriteBoolean("swapCovered", SwapCovered);
        w.WriteString("swap", Swap);
        w.WriteEndObject();
    });

    /// <exception cref="JsonException">Not JSON, or not an object.</exception>
    /// <exception cref="InvalidOperationException">A field of the wrong type.</exception>
    /// <exception cref="FormatException">A date or an enum name that is none of ours.</exception>
    internal static TunerState Parse(ReadOnlySpan<byte> json)
    {
        var r = new Utf8JsonReader(json);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new JsonException("not a JSON object");
        var s = new TunerState();
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var name = r.GetString();
            r.Read();
            s = name switch
            {
                "request" => s with { Request = Enum<TunerRequest>(ref r) },
                "phase" => s with { Phase = Enum<TunerPhase>(ref r) },
                "mode" => s with { Mode = r.GetString()! },
                "pagesToScan" => s with { PagesToScan = r.GetInt64() },
                "sleepMillisecs" => s with { SleepMillisecs = r.GetInt64() },
                "thresholdKiB" => s with { ThresholdKiB = r.GetInt64() },
                "totalKiB" => s with { TotalKiB = r.GetInt64() },
                "freeKiB" => s with { FreeKiB = r.GetInt64() },
                "committedKiB" => s with { CommittedKiB = r.GetInt64() },
                "lastAction" => s with { LastAction = r.GetString()! },
                "why" => s with { Why = r.GetString()! },
                "at" => s with { At = r.GetDateTimeOffset() },
                "cycles" => s with { Cycles = r.GetInt64() },
                "errors" => s with { Errors = r.GetInt64() },
                "lastError" => s with { LastError = r.GetString()! },
                "swapFreeKiB" => s with { SwapFreeKiB = r.GetInt64() },
                "swapNeedKiB" => s with { SwapNeedKiB = r.GetInt64() },
                "swapCovered" => s with { SwapCovered = r.GetBoolean() },
                "swap" => s with { Swap = r.GetString()! },
                _ => Skip(ref r, s),
            };
        }
        if (r.TokenType != JsonTokenType.EndObject) throw new JsonException("the object does not end");
        return s;

        static T Enum<T>(ref Utf8JsonReader r) where T : struct, System.Enum =>
            System.Enum.TryParse<T>(r.GetString(), ignoreCase: true, out var v) && System.Enum.IsDefined(v)
                ? v
                : throw new FormatException($"'{r.GetString()}' is not a {typeof(T).Name}");

        static TunerState Skip(ref Utf8JsonReader r, TunerState s)
        {
            r.Skip();
            return s;
        }
    }

    /// <summary>
    /// The tuner's object in <c>largeguest ksm status --json</c>: null fields before the tuner first ran.
    /// </summary>
    public static void WriteStatusJson(Utf8JsonWriter w, TunerState? state, int? daemonPid)
    {
        w.WriteStartObject();
        w.WriteNumberOrNull("daemon_pid", daemonPid);
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
