using System.Text.Json;
using System.Text.Json.Serialization;

namespace Largeguest.Ksm.Tuning;

/// <summary>What the administrator asked of the tuner: tune (run), leave ksmd stopped (stop), stop and unmerge (prune).</summary>
public enum TunerRequest { Run, Stop, Prune }

/// <summary>The tuner's phase (seed 003's ksmdPhase): what it last left ksmd doing.</summary>
public enum TunerPhase { Running, Stopped, Pruned }

/// <summary>
/// The tuner's state, kept in <c>&lt;Ksm:StateDir&gt;/ksmtune.json</c> (under /run: gone at reboot, like KSM's own state)
/// so that <c>ksm status</c>, <c>ksm metrics</c> and the daemon after a restart see the last decision.
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

    public static string PathIn(string stateDir) => System.IO.Path.Combine(stateDir, FileName);

    /// <summary>The saved state, or null when the tuner has not run since boot. A damaged file is reported, not fatal.</summary>
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

    public void Save(string stateDir) => StateFiles.Write(PathIn(stateDir), JsonSerializer.SerializeToUtf8Bytes(this, TunerStateJson.Default.TunerState));

    public string ToJson() => JsonSerializer.Serialize(this, TunerStateJson.Default.TunerState);

    /// <summary>The tuner's lines of <c>largeguest ksm status</c>; <paramref name="daemonPid"/> from the pid file.</summary>
    public static IEnumerable<string> StatusLines(TunerState? state, int? daemonPid)
    {
        yield return "tuner:";
        yield return $"  daemon:          {(daemonPid is int pid ? $"running (pid {pid})" : "not running")}";
        if (state is null)
        {
            yield return "  state:           none recorded since boot ('largeguest ksm tune --once' or the daemon records it)";
            yield break;
        }
        yield return $"  phase:           {state.Phase} (asked: {state.Request.ToString().ToLowerInvariant()}, mode {state.Mode})";
        yield return $"  pages_to_scan:   {state.PagesToScan}";
        yield return $"  sleep_millisecs: {state.SleepMillisecs}";
        yield return $"  last decision:   {state.LastAction} at {state.At:u}";
        yield return $"  why:             {state.Why}";
        yield return $"  cycles:          {state.Cycles} ({state.Errors} failed{(state.LastError.Length > 0 ? $"; last error: {state.LastError}" : "")})";
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(TunerState))]
internal sealed partial class TunerStateJson : JsonSerializerContext;

/// <summary>Whole-file replacement of small state files (temp file, fsync, rename; mode 0644).</summary>
internal static class StateFiles
{
    private const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        var dir = System.IO.Path.GetDirectoryName(path)!;
        var temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}-{Random.Shared.Next():x8}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var fs = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = Mode }))
            {
                fs.Write(content);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new KsmTuneException($"{path}: cannot write: {e.Message}");
        }
    }
}
