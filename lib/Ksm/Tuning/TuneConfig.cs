using System.Globalization;
using System.Net;
using Largeguest.Config;

namespace Largeguest.Ksm.Tuning;

/// <summary>Values given on the command line of <c>largeguest ksm tune</c>; null = not given.</summary>
public sealed record TuneFlags(
    string? Mode = null, string? ThresCoef = null, string? Boost = null, string? Decay = null, string? MinPages = null,
    string? MaxPages = null, string? SleepMsec = null, string? IntervalSeconds = null, string? Listen = null,
    string? Textfile = null)
{
    public static TuneFlags None { get; } = new();
}

/// <summary>The tuner's effective, validated settings.</summary>
public sealed record TunerSettings(
    TuningMode Mode,
    TuningParameters Parameters,
    int ThresCoef,
    long ThresConstKiB,
    TimeSpan Interval,
    IPEndPoint? Listen,
    string? TextfilePath,
    TimeSpan CpuSample,
    bool Debug,
    string? GuestStateDir)
{
    public static TunerSettings Defaults { get; } = TuneConfig.Resolve(
        new KsmTuneOptions { KsmtunedConf = "" }, "defaults", KsmtunedConf.Defaults, TuneFlags.None, _ => { });

    public string Summary =>
        $"mode {Mode.Name()} ({Parameters}), thresCoef {ThresCoef}%, thresConst {ThresConstKiB} KiB, " +
        $"interval {Interval.TotalSeconds:0}s";
}

/// <summary>
/// Resolves the tuner's settings from three layers, strongest first: command-line flags, the <c>KsmTune</c> section
/// of the product's JSON config, /etc/ksmtuned.conf (then ksmtuned's own defaults). A bad value is a
/// <see cref="ConfigException"/> naming the flag, the JSON key with its file, or the ksmtuned.conf key.
/// Standard and high mode fix boost/decay/minPages/maxPages/sleepMsec; giving one of those in the same layer as such a
/// mode is an error, a weaker layer's value is ignored with a note.
/// </summary>
public static class TuneConfig
{
    public static TunerSettings Resolve(KsmTuneOptions json, string jsonSource, KsmtunedConf conf, TuneFlags flags,
        Action<string> note)
    {
        string J(string key) => $"{jsonSource}: KsmTune:{key}";
        var jsonMode = string.IsNullOrWhiteSpace(json.Mode) ? null : ParseMode(json.Mode, J("Mode"));
        var flagMode = ParseMode(flags.Mode, "--mode");
        var mode = flagMode ?? jsonMode ?? TuningMode.Customized;

        var thresCoef = (int)Layered(flags.ThresCoef, "--thres-coef", json.ThresCoef, J("ThresCoef"), conf,
            KsmtunedConf.ThresCoef, 0, 100, 1);
        var thresConst = Layered(null, "", json.ThresConstKiB, J("ThresConstKiB"), conf,
            KsmtunedConf.ThresConst, 0, long.MaxValue / 2, 1);
        var interval = Layered(flags.IntervalSeconds, "--interval", json.IntervalSeconds, J("IntervalSeconds"), conf,
            KsmtunedConf.MonitorInterval, 1, 86_400, 1);

        // The customized values, each from the strongest layer that gives it.
        (string Flag, string? FlagValue, string Json, string JsonValue, string Conf, long Min, long Max,
            long ConfSign)[] custom =
        [
            ("--boost", flags.Boost, "Boost", json.Boost, KsmtunedConf.NpagesBoost, 0, TuningParameters.PagesLimit, 1),
            ("--decay", flags.Decay, "Decay", json.Decay, KsmtunedConf.NpagesDecay, 0, TuningParameters.PagesLimit, -1),
            ("--min-pages", flags.MinPages, "MinPages", json.MinPages,
                KsmtunedConf.NpagesMin, 1, TuningParameters.PagesLimit, 1),
            ("--max-pages", flags.MaxPages, "MaxPages", json.MaxPages,
                KsmtunedConf.NpagesMax, 1, TuningParameters.PagesLimit, 1),
            ("--sleep-msec", flags.SleepMsec, "SleepMsec", json.SleepMsec,
                KsmtunedConf.SleepMsec, 0, TuningParameters.SleepLimit, 1),
        ];
        var values = new long[custom.Length];
        for (var i = 0; i < custom.Length; i++)
        {
            var c = custom[i];
            if (mode != TuningMode.Customized)
            {
                if (c.FlagValue is not null && flagMode is not null)
                    throw new ConfigException(
                        $"{c.Flag}: only used with --mode customized (the mode given is {mode.Name()})");
                if (!string.IsNullOrWhiteSpace(c.JsonValue) && flagMode is null && jsonMode is not null)
                    throw new ConfigException($"{J(c.Json)}: set, but KsmTune:Mode is {mode.Name()} " +
                        "(expected: empty unless Mode is customized)");
                if (c.FlagValue is not null || !string.IsNullOrWhiteSpace(c.JsonValue) || conf.IsSet(c.Conf))
                    note($"{(c.FlagValue is not null ? c.Flag
                            : !string.IsNullOrWhiteSpace(c.JsonValue) ? J(c.Json)
                            : $"{conf.Source}: {c.Conf}")}: ignored, mode {mode.Name()} has its own value");
            }
            values[i] = Layered(c.FlagValue, c.Flag, c.JsonValue, J(c.Json), conf, c.Conf, c.Min, c.Max, c.ConfSign);
        }
        var customized = new TuningParameters(values[0], values[1], values[2], values[3], values[4]);
        var parameters = TuningParameters.For(mode, customized);
        if (mode == TuningMode.Customized && parameters.Problem(n => n) is { } problem)
            throw new ConfigException($"customized parameters ({Origins(flags, json, conf)}): {problem}");

        var listenText = flags.Listen ?? json.Listen;
        var listen = string.IsNullOrWhiteSpace(listenText) ? null
            : ParseEndpoint(listenText.Trim()) ?? throw new ConfigException(
                $"{(flags.Listen is not null ? "--listen" : J("Listen"))}: bad value '{listenText}' " +
                "(expected: ADDRESS:PORT such as 127.0.0.1:9926 or [::1]:9926, or empty for no endpoint)");
        var textfile = flags.Textfile ?? json.TextfilePath;
        if (!string.IsNullOrWhiteSpace(textfile)
            && (!Path.IsPathRooted(textfile) || !textfile.EndsWith(".prom", StringComparison.Ordinal)))
            throw new ConfigException(
                $"{(flags.Textfile is not null ? "--textfile" : J("TextfilePath"))}: bad value '{textfile}' " +
                "(expected: an absolute path ending in .prom, as node_exporter's textfile collector reads)");
        if (json.CpuSampleMilliseconds is < 10 or > 60_000)
            throw new ConfigException($"{J("CpuSampleMilliseconds")}: bad value '{json.CpuSampleMilliseconds}' " +
                "(expected: a whole number from 10 to 60000)");

        var guestDir = string.IsNullOrWhiteSpace(json.GuestStateDir) ? null : json.GuestStateDir.Trim();
        if (guestDir is not null && !Path.IsPathRooted(guestDir))
            throw new ConfigException($"{J("GuestStateDir")}: bad value '{json.GuestStateDir}' " +
                "(expected: an absolute directory such as /run/libvirt/qemu, or empty for no guest watch)");

        return new TunerSettings(mode, parameters, thresCoef, thresConst, TimeSpan.FromSeconds(interval), listen,
            string.IsNullOrWhiteSpace(textfile) ? null : textfile.Trim(),
            TimeSpan.FromMilliseconds(json.CpuSampleMilliseconds), conf.DebugEnabled, guestDir);
    }

    /// <summary>
    /// The value from the flag, else the JSON key, else ksmtuned.conf (times <paramref name="confSign"/>), each checked
    /// against min..max.
    /// </summary>
    private static long Layered(string? flag, string flagName, string? json, string jsonName, KsmtunedConf conf,
        string confKey, long min, long max, long confSign)
    {
        if (flag is not null) return Number(flag, flagName, min, max);
        if (!string.IsNullOrWhiteSpace(json)) return Number(json, jsonName, min, max);
        return conf.Number(confKey) * confSign; // KsmtunedConf.Parse has checked it against ksmtuned's ranges
    }

    private static long Number(string text, string name, long min, long max) =>
        long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ConfigException($"{name}: bad value '{text}' (expected: a whole number from {min} to {max})");

    private static TuningMode? ParseMode(string? text, string name)
    {
        if (string.IsNullOrWhiteSpace(text))
            return text is null ? null : throw new ConfigException($"{name}: empty (expected: {TuningModes.Syntax})");
        return TuningModes.TryParse(text, out var m)
            ? m
            : throw new ConfigException($"{name}: bad value '{text}' (expected: {TuningModes.Syntax})");
    }

    public static IPEndPoint? ParseEndpoint(string text) =>
        IPEndPoint.TryParse(text, out var ep)
            && (text.Contains("]:", StringComparison.Ordinal)
                || (!text.StartsWith('[') && text.Count(c => c == ':') == 1))
                ? ep
                : null;

    private static string Origins(TuneFlags flags, KsmTuneOptions json, KsmtunedConf conf)
    {
        var from = new List<string>();
        if ((flags.Boost ?? flags.Decay ?? flags.MinPages ?? flags.MaxPages ?? flags.SleepMsec) is not null)
            from.Add("flags");
        if (new[] { json.Boost, json.Decay, json.MinPages, json.MaxPages, json.SleepMsec }
            .Any(v => !string.IsNullOrWhiteSpace(v))) from.Add("KsmTune config");
        if (conf.SetKeys.Any()) from.Add(conf.Source);
        if (from.Count == 0) from.Add("defaults");
        return "from " + string.Join(", ", from);
    }
}
