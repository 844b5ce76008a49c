using System.Globalization;
using System.Reflection;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// The exposition served by the daemon, printed by <c>largeguest ksm metrics</c> and written to the node_exporter
/// textfile: every numeric file of /sys/kernel/mm/ksm, the tuner's state, and ksmd's CPU use. Names follow
/// Prometheus' naming rules: <c>largeguest_ksm_*</c> mirror the kernel files in base units (seconds, bytes; counters
/// get <c>_total</c>), <c>largeguest_ksmtune_*</c> are the tuner's, <c>largeguest_ksmd_*</c> the kernel thread's;
/// label values are lower case and never free text. The names are an interface (docs/ksmtune.md, "Metrics").
/// </summary>
public static class KsmMetrics
{
    /// <summary>KSM counters that only ever grow (until KSM is reset): exposed as Prometheus counters.</summary>
    private static readonly HashSet<string> Monotonic =
        new(StringComparer.Ordinal) { KsmFiles.FullScans, KsmFiles.PagesScanned, KsmFiles.PagesSkipped };

    /// <summary>A kernel file's metric name (without <c>_total</c>) and the factor to its base unit.</summary>
    public static (string Name, double Scale) KernelMetric(string file) => file switch
    {
        _ when file.EndsWith("_millisecs", StringComparison.Ordinal) =>
            ($"largeguest_ksm_{file[..^"_millisecs".Length]}_seconds", 0.001),
        KsmFiles.GeneralProfit => ("largeguest_ksm_general_profit_bytes", 1),
        _ when file.StartsWith("ksm_", StringComparison.Ordinal) =>
            ($"largeguest_ksm_{file["ksm_".Length..]}", 1), // ksm_zero_pages
        _ => ($"largeguest_ksm_{file}", 1),
    };

    private static readonly string Version =
        typeof(KsmMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()
            ?.InformationalVersion.Split('+')[0] ?? "unknown";

    public static string Render(IReadOnlyDictionary<string, string> ksm, TunerState? tuner, CpuSample? ksmdCpu,
        double? ksmdPercent)
    {
        var p = new PrometheusText();
        p.Family("largeguest_build_info", MetricType.Gauge,
            "Always 1; the label says which largeguest serves these metrics.");
        p.Sample(1, ("version", Version));
        p.Single("largeguest_ksm_present", MetricType.Gauge,
            "1 when the kernel has KSM (/sys/kernel/mm/ksm exists).", ksm.Count > 0 ? 1 : 0);
        foreach (var (file, text) in ksm.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var help = $"/sys/kernel/mm/ksm/{file}"
                + (KsmFiles.Find(file)?.Description is { Length: > 0 } d ? $": {d}" : "");
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
            {
                var counter = Monotonic.Contains(file);
                var (name, scale) = KernelMetric(file);
                p.Single(counter ? $"{name}_total" : name, counter ? MetricType.Counter : MetricType.Gauge,
                    help, n * scale);
            }
            else if (text.Contains('[', StringComparison.Ordinal))
            {
                // A choice file such as advisor_mode ("[none] scan-time"): one sample per choice, 1 for the selected.
                p.Family(KernelMetric(file).Name, MetricType.Gauge, help + " (1 marks the selected value)");
                foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    var selected = word.StartsWith('[') && word.EndsWith(']');
                    p.Sample(selected ? 1 : 0, ("value", word.Trim('[', ']')));
                }
            }
        }

        p.Single("largeguest_ksmtune_state_present", MetricType.Gauge,
            "1 when the tuner has recorded a state since boot.", tuner is null ? 0 : 1);
        if (tuner is not null)
        {
            p.Family("largeguest_ksmtune_phase", MetricType.Gauge,
                "The tuner's phase: 1 for the current one (Running, Stopped, Pruned).");
            foreach (var phase in Enum.GetValues<TunerPhase>())
                p.Sample(tuner.Phase == phase ? 1 : 0, ("phase", phase.ToString().ToLowerInvariant()));
            p.Family("largeguest_ksmtune_request", MetricType.Gauge,
                "What the administrator asked: 1 for run (tune), stop or prune.");
            foreach (var request in Enum.GetValues<TunerRequest>())
                p.Sample(tuner.Request == request ? 1 : 0, ("request", request.ToString().ToLowerInvariant()));
            p.Single("largeguest_ksmtune_pages_to_scan", MetricType.Gauge,
                "pages_to_scan the tuner last set.", tuner.PagesToScan);
            p.Single("largeguest_ksmtune_sleep_seconds", MetricType.Gauge,
                "sleep_millisecs the tuner last set, in seconds.", tuner.SleepMillisecs / 1000.0);
            p.Single("largeguest_ksmtune_threshold_bytes", MetricType.Gauge,
                "Free-memory threshold of the last cycle (thresCoef% of RAM, at least KSM_THRES_CONST).",
                tuner.ThresholdKiB * 1024.0);
            p.Single("largeguest_ksmtune_free_bytes", MetricType.Gauge,
                "Free memory (MemAvailable) seen by the last cycle.", tuner.FreeKiB * 1024.0);
            p.Single("largeguest_ksmtune_committed_bytes", MetricType.Gauge,
                "Resident memory of QEMU processes seen by the last cycle.", tuner.CommittedKiB * 1024.0);
            // Its reason in words is in `largeguest ksm tune status` and the journal: a label with live numbers would
            // be a new series every cycle.
            p.Family("largeguest_ksmtune_last_decision", MetricType.Gauge,
                "The last decision (1): its action and the tuning mode.");
            p.Sample(1, ("action", tuner.LastAction.ToLowerInvariant()), ("mode", tuner.Mode.ToLowerInvariant()));
            p.Single("largeguest_ksmtune_last_decision_timestamp_seconds", MetricType.Gauge,
                "When the last decision was made (Unix time).", tuner.At.ToUnixTimeMilliseconds() / 1000.0);
            p.Single("largeguest_ksmtune_cycles_total", MetricType.Counter,
                "Tuning cycles run since boot.", tuner.Cycles);
            p.Single("largeguest_ksmtune_swap_free_bytes", MetricType.Gauge,
                "SwapFree seen by the last cycle.", tuner.SwapFreeKiB * 1024.0);
            p.Single("largeguest_ksmtune_unshare_need_bytes", MetricType.Gauge,
                "Memory unsharing every merged page would allocate (pages_sharing + ksm_zero_pages), last cycle.",
                tuner.SwapNeedKiB * 1024.0);
            p.Single("largeguest_ksmtune_swap_covered", MetricType.Gauge,
                "1 when swap + free memory covered unsharing every merged page at the last cycle; 0 is a warning.",
                tuner.SwapCovered ? 1 : 0);
            p.Single("largeguest_ksmtune_errors_total", MetricType.Counter,
                "Tuning cycles that failed since boot.", tuner.Errors);
        }

        p.Single("largeguest_ksmd_present", MetricType.Gauge,
            "1 when the ksmd kernel thread was found.", ksmdCpu is null ? 0 : 1);
        if (ksmdCpu is CpuSample cpu)
        {
            p.Single("largeguest_ksmd_cpu_seconds_total", MetricType.Counter,
                "CPU time used by ksmd (utime+stime of /proc/<ksmd pid>/stat).", cpu.Seconds);
            if (ksmdPercent is double pct)
                p.Single("largeguest_ksmd_cpu_utilization_ratio", MetricType.Gauge,
                    "ksmd's CPU use over the last sampling interval, as a ratio of one core (0-1).",
                    Math.Round(pct / 100, 5));
        }
        return p.ToString();
    }
}
