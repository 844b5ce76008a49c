using System.Diagnostics;
using System.Globalization;
using Largeguest.Config;

namespace Largeguest.Ksm.Tuning.Interim;

/// <summary>
/// STAND-IN until issue 4's KSM library (KsmSysfs, HostLock, KsmReconciler) is on main: the same sysfs files, the
/// same lock file (an flock on &lt;Ksm:StateDir&gt;/ksm.lock) and the same memory rule, written minimally. Replaced
/// by an adapter over that library when the branches meet; nothing else in the tuner depends on this class.
/// </summary>
public sealed class InterimTunerHost(LargeguestConfig config, string root = "/sys/kernel/mm/ksm", string meminfo = "/proc/meminfo") : ITunerHost
{
    public IReadOnlyDictionary<string, string> ReadKsm()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!Directory.Exists(root)) return values;
        foreach (var path in Directory.EnumerateFiles(root))
        {
            try { values[Path.GetFileName(path)] = File.ReadAllText(path).Trim(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return values;
    }

    public void WriteKsm(string file, string value)
    {
        long max = file switch { "run" => 2, "merge_across_nodes" => 1, "pages_to_scan" or "sleep_millisecs" => uint.MaxValue, _ => -1 };
        if (max < 0) throw new KsmTuneException($"{file}: not a KSM file the tuner writes");
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > max)
            throw new KsmTuneException($"{file}: bad value '{value}' (expected: a whole number from 0 to {max})");
        var path = Path.Combine(root, file);
        try { File.WriteAllText(path, n.ToString(CultureInfo.InvariantCulture)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmTuneException($"writing {n} to {path} failed: {e.Message}"); }
    }

    public IDisposable Lock()
    {
        Directory.CreateDirectory(config.KsmStateDir);
        var path = Path.Combine(config.KsmStateDir, "ksm.lock");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            // .NET takes flock(LOCK_EX|LOCK_NB) for FileShare.None on Linux: the same lock as the hook's.
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (clock.Elapsed < config.KsmLockTimeout) { Thread.Sleep(10); }
            catch (IOException e) { throw new KsmTuneException($"{path}: the KSM lock stayed held for more than {config.KsmLockTimeout.TotalSeconds:0} s (Ksm:LockTimeoutSeconds): {e.Message}"); }
        }
    }

    public string Prune(IDisposable held)
    {
        var ksm = ReadKsm();
        long Num(string f) => ksm.TryGetValue(f, out var t) && long.TryParse(t, out var v) ? v : 0;
        var cost = (Num("pages_sharing") + Num("ksm_zero_pages")) * Environment.SystemPageSize;
        var available = MemInfo.Read(meminfo).AvailableKiB * 1024;
        var allowed = available / 100 * (100 - config.KsmMemoryReservePercent);
        if (cost > allowed)
            throw new KsmTuneException($"prune refused: unmerging needs {cost >> 20} MiB but only {allowed >> 20} MiB may be used (MemAvailable less Ksm:MemoryReservePercent {config.KsmMemoryReservePercent}%)");
        var clock = Stopwatch.StartNew();
        if (Num("run") == 2) WriteKsm("run", "0"); // only a fresh write of 2 unmerges
        WriteKsm("run", "2");
        WriteKsm("run", "0");
        return $"unmerged {Num("pages_sharing")} pages ({cost >> 20} MiB) in {clock.Elapsed.TotalSeconds:0.###} s; ksmd stopped";
    }

    public IReadOnlyList<string> ReconcileMergeAcrossNodes(bool value)
    {
        var ksm = ReadKsm();
        var want = value ? "1" : "0";
        if (!ksm.TryGetValue("merge_across_nodes", out var current)) return ["merge_across_nodes: this kernel has none (no NUMA)"];
        if (current == want) return [$"merge_across_nodes is already {want}"];
        if (ksm.GetValueOrDefault("pages_shared") is not (null or "0"))
            throw new KsmTuneException($"merge_across_nodes {current} -> {want} needs an unmerge: not available until the KSM reconciler (issue 4) is merged");
        using (Lock()) WriteKsm("merge_across_nodes", want);
        return [$"merge_across_nodes {current} -> {want} (nothing was shared)"];
    }
}
