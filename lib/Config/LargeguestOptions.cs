using System.Globalization;

namespace Largeguest.Config;

// The raw configuration tree as set from JSON and LARGEGUEST__Section__Key variables (TrySet).
// Values stay strings/numbers here; LargeguestConfig validates them into typed settings.
// Every key is documented in ConfigKeys (one table for docs, warnings and the shipped file).

public sealed class LargeguestOptions
{
    public TopologyOptions Topology { get; set; } = new();
    public NumaTuneOptions NumaTune { get; set; } = new();
    public CpuTuneOptions CpuTune { get; set; } = new();
    public GuestNumaOptions GuestNuma { get; set; } = new();
    public KsmOptions Ksm { get; set; } = new();
    public KsmTuneOptions KsmTune { get; set; } = new();
    public MomOptions Mom { get; set; } = new();

    /// <summary>
    /// Sets the key <paramref name="key"/> (<c>Section:Key</c>, any case, as configuration keys are) from its text;
    /// false when it is none of ours (ConfigKeys lists the same keys; a test keeps the two in step).
    /// </summary>
    /// <exception cref="FormatException">A whole-number key given other text.</exception>
    public bool TrySet(string key, string value)
    {
        switch (key.ToLowerInvariant())
        {
            case "topology:source": Topology.Source = value; break;
            case "topology:libvirturi": Topology.LibvirtUri = value; break;
            case "topology:sysfsroot": Topology.SysfsRoot = value; break;
            case "topology:numadpath": Topology.NumadPath = value; break;
            case "numatune:defaultmode": NumaTune.DefaultMode = value; break;
            case "numatune:strictmemory": NumaTune.StrictMemory = value; break;
            case "numatune:preferredmanynodes": NumaTune.PreferredManyNodes = value; break;
            case "cputune:sharedpolicy": CpuTune.SharedPolicy = value; break;
            case "guestnuma:topologymismatch": GuestNuma.TopologyMismatch = value; break;
            case "ksm:statedir": Ksm.StateDir = value; break;
            case "ksm:memoryreservepercent": Ksm.MemoryReservePercent = Whole(value); break;
            case "ksm:onfailure": Ksm.OnFailure = value; break;
            case "ksm:unmergetimeoutseconds": Ksm.UnmergeTimeoutSeconds = Whole(value); break;
            case "ksm:unmergesecondspergib": Ksm.UnmergeSecondsPerGiB = Whole(value); break;
            case "ksm:locktimeoutseconds": Ksm.LockTimeoutSeconds = Whole(value); break;
            case "ksm:stalegraceseconds": Ksm.StaleGraceSeconds = Whole(value); break;
            case "ksm:maxrequests": Ksm.MaxRequests = Whole(value); break;
            case "ksm:defaultmergeacrossnodes": Ksm.DefaultMergeAcrossNodes = value; break;
            case "ksmtune:mode": KsmTune.Mode = value; break;
            case "ksmtune:threscoef": KsmTune.ThresCoef = value; break;
            case "ksmtune:thresconstkib": KsmTune.ThresConstKiB = value; break;
            case "ksmtune:boost": KsmTune.Boost = value; break;
            case "ksmtune:decay": KsmTune.Decay = value; break;
            case "ksmtune:minpages": KsmTune.MinPages = value; break;
            case "ksmtune:maxpages": KsmTune.MaxPages = value; break;
            case "ksmtune:sleepmsec": KsmTune.SleepMsec = value; break;
            case "ksmtune:intervalseconds": KsmTune.IntervalSeconds = value; break;
            case "ksmtune:ksmtunedconf": KsmTune.KsmtunedConf = value; break;
            case "ksmtune:listen": KsmTune.Listen = value; break;
            case "ksmtune:textfilepath": KsmTune.TextfilePath = value; break;
            case "ksmtune:cpusamplemilliseconds": KsmTune.CpuSampleMilliseconds = Whole(value); break;
            case "ksmtune:gueststatedir": KsmTune.GuestStateDir = value; break;
            case "mom:configpath": Mom.ConfigPath = value; break;
            default: return false;
        }
        return true;
    }

    /// <summary>A whole number as JSON or an environment variable writes it (surrounding blanks allowed).</summary>
    private static int Whole(string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new FormatException("a whole number");
}

public sealed class TopologyOptions
{
    public string Source { get; set; } = "auto";
    public string LibvirtUri { get; set; } = "qemu:///system";
    public string SysfsRoot { get; set; } = "/sys";
    public string NumadPath { get; set; } = "/usr/bin/numad";
}

public sealed class NumaTuneOptions
{
    public string DefaultMode { get; set; } = "preferred";
    public string StrictMemory { get; set; } = "warn";
    public string PreferredManyNodes { get; set; } = "fail";
}

public sealed class CpuTuneOptions
{
    /// <summary>cputune/pincpu pins of a VM whose CPU Pinning Policy is 'none' (VDSM moves them back): fail or
    /// warn.</summary>
    public string SharedPolicy { get; set; } = "fail";
}

public sealed class GuestNumaOptions
{
    /// <summary>Guest cells that split a guest socket (die) or core of &lt;cpu&gt;&lt;topology&gt;: warn or
    /// fail.</summary>
    public string TopologyMismatch { get; set; } = "warn";
}

public sealed class KsmOptions
{
    public string StateDir { get; set; } = "/run/vdsm-hook-largeguest";
    public int MemoryReservePercent { get; set; } = 10;
    public string OnFailure { get; set; } = "warn";
    public int UnmergeTimeoutSeconds { get; set; } = 3600;
    public int UnmergeSecondsPerGiB { get; set; } = 2;
    public int LockTimeoutSeconds { get; set; } = 30;
    public int StaleGraceSeconds { get; set; } = 300;
    public int MaxRequests { get; set; } = 4096;
    /// <summary>Empty: leave the host's merge_across_nodes alone when no VM asked.</summary>
    public string DefaultMergeAcrossNodes { get; set; } = "";
}

/// <summary>
/// The KSM tuning service (`largeguest ksm tune`). Empty values fall back to /etc/ksmtuned.conf, then to ksmtuned's
/// defaults; validated by Largeguest.Ksm.Tuning.TuneConfig. A record: LargeguestConfig compares by value.
/// </summary>
public sealed record KsmTuneOptions
{
    public string Mode { get; set; } = "customized";
    public string ThresCoef { get; set; } = "";
    public string ThresConstKiB { get; set; } = "";
    public string Boost { get; set; } = "";
    public string Decay { get; set; } = "";
    public string MinPages { get; set; } = "";
    public string MaxPages { get; set; } = "";
    public string SleepMsec { get; set; } = "";
    public string IntervalSeconds { get; set; } = "";
    public string KsmtunedConf { get; set; } = "/etc/ksmtuned.conf";
    public string Listen { get; set; } = "127.0.0.1:9926";
    public string TextfilePath { get; set; } = "";
    public int CpuSampleMilliseconds { get; set; } = 1000;
    public string GuestStateDir { get; set; } = "/run/libvirt/qemu";
}

/// <summary>MoM, the oVirt host's KSM manager (docs/ksm.md, "MoM"): where its configuration is.</summary>
public sealed class MomOptions
{
    public string ConfigPath { get; set; } = "/etc/vdsm/mom.conf";
}
