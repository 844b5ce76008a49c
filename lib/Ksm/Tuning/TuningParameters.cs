namespace Largeguest.Ksm.Tuning;

/// <summary>Which parameter set the tuner uses (Harvester's modes, docs/design.md section 6).</summary>
public enum TuningMode
{
    /// <summary>Fixed, light scanning: ksmd uses about 20% of one core.</summary>
    Standard,
    /// <summary>Scanning grows under pressure: ksmd uses 20% to 100% of one core.</summary>
    High,
    /// <summary>The administrator's own values (ksmtuned.conf, the KsmTune config section, flags).</summary>
    Customized,
}

public static class TuningModes
{
    public const string Syntax = "standard, high or customized";

    public static bool TryParse(string? text, out TuningMode mode)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "standard": mode = TuningMode.Standard; return true;
            case "high": mode = TuningMode.High; return true;
            case "customized": mode = TuningMode.Customized; return true;
            default: mode = default; return false;
        }
    }

    public static string Name(this TuningMode mode) => mode.ToString().ToLowerInvariant();
}

/// <summary>
/// How hard ksmd is driven: <see cref="Boost"/> pages_to_scan are added per cycle under memory pressure,
/// <see cref="Decay"/> taken away otherwise, always within <see cref="MinPages"/>..<see cref="MaxPages"/>;
/// <see cref="SleepMsec"/> is ksmd's sleep between batches on a 16 GiB host (scaled by memory size).
/// Decay is a non-negative amount that is subtracted (Harvester's convention; ksmtuned.conf writes it negated).
/// </summary>
public sealed record TuningParameters(long Boost, long Decay, long MinPages, long MaxPages, long SleepMsec)
{
    /// <summary>Harvester's standard mode.</summary>
    public static TuningParameters Standard { get; } = new(0, 0, 100, 100, 20);

    /// <summary>Harvester's high-performance mode.</summary>
    public static TuningParameters High { get; } = new(200, 50, 100, 10000, 20);

    /// <summary>
    /// ksmtuned's built-in defaults (the RHEL KSM guide, docs/design.md section 6): what customized mode starts from.
    /// </summary>
    internal static TuningParameters KsmtunedDefaults { get; } = new(300, 50, 64, 1250, 10);

    /// <summary>The largest pages_to_scan the kernel takes (an unsigned int).</summary>
    public const long PagesLimit = uint.MaxValue;

    /// <summary>The largest sleepMsec accepted: a day between batches is already "never".</summary>
    public const long SleepLimit = 86_400_000;

    public static TuningParameters For(TuningMode mode, TuningParameters customized) => mode switch
    {
        TuningMode.Standard => Standard,
        TuningMode.High => High,
        _ => customized,
    };

    /// <summary>
    /// Why these values cannot be used (naming each through <paramref name="name"/>), or null when they can.
    /// </summary>
    public string? Problem(Func<string, string> name)
    {
        if (Boost is < 0 or > PagesLimit)
            return $"{name("boost")}: bad value '{Boost}' (expected: a whole number from 0 to {PagesLimit})";
        if (Decay is < 0 or > PagesLimit)
            return $"{name("decay")}: bad value '{Decay}' (expected: a whole number from 0 to {PagesLimit})";
        if (MinPages is < 1 or > PagesLimit)
            return $"{name("minPages")}: bad value '{MinPages}' (expected: a whole number from 1 to {PagesLimit})";
        if (MaxPages is < 1 or > PagesLimit)
            return $"{name("maxPages")}: bad value '{MaxPages}' (expected: a whole number from 1 to {PagesLimit})";
        if (MinPages > MaxPages)
            return $"{name("minPages")}: {MinPages} is above {name("maxPages")} {MaxPages} " +
                "(expected: minPages <= maxPages)";
        if (SleepMsec is < 0 or > SleepLimit)
            return $"{name("sleepMsec")}: bad value '{SleepMsec}' (expected: a whole number from 0 to {SleepLimit})";
        return null;
    }

    public override string ToString() =>
        $"boost {Boost}, decay {Decay}, minPages {MinPages}, maxPages {MaxPages}, sleepMsec {SleepMsec}";
}
