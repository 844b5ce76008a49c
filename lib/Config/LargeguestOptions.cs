namespace Largeguest.Config;

// The raw configuration tree as bound from JSON and LARGEGUEST__Section__Key variables.
// Values stay strings/numbers here; LargeguestConfig validates them into typed settings.
// Every key is documented in ConfigKeys (one table for docs, warnings and the shipped file).

public sealed class LargeguestOptions
{
    public TopologyOptions Topology { get; set; } = new();
    public NumaTuneOptions NumaTune { get; set; } = new();
    public KsmOptions Ksm { get; set; } = new();
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
}

public sealed class KsmOptions
{
    public string StateDir { get; set; } = "/run/vdsm-hook-largeguest";
    public int MemoryReservePercent { get; set; } = 10;
    public string OnFailure { get; set; } = "warn";
    public int UnmergeTimeoutSeconds { get; set; } = 60;
    public int LockTimeoutSeconds { get; set; } = 30;
    public int StaleGraceSeconds { get; set; } = 300;
    /// <summary>Empty: leave the host's merge_across_nodes alone when no VM asked.</summary>
    public string DefaultMergeAcrossNodes { get; set; } = "";
}
