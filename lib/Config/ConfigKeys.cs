namespace Largeguest.Config;

/// <summary>One configuration key: its name, default as written in JSON, and what it does.</summary>
public sealed record ConfigKey(string Name, string Default, string Description);

/// <summary>
/// Every key the product knows. A key in the file or environment that is not here is a warning
/// (newer configs may set keys ahead of the code), never an error.
/// </summary>
public static class ConfigKeys
{
    public static readonly IReadOnlyList<ConfigKey> All =
    [
        new("Topology:Source", "auto", "Where the host topology comes from: auto (libvirt, falling back to sysfs), " +
            "libvirt or sysfs."),
        new("Topology:LibvirtUri", "qemu:///system", "libvirt URI opened read-only for the host topology."),
        new("Topology:SysfsRoot", "/sys", "Root of the sysfs tree read for the host topology (tests point it at a " +
            "fixture)."),
        new("Topology:NumadPath", "/usr/bin/numad", "The numad executable libvirt runs for numatune=auto; auto " +
            "placement is refused when it is missing."),
        new("NumaTune:DefaultMode", "preferred", "Memory mode for a numatune value given as a bare NODESET, and for " +
            "per-cell bindings: strict, preferred, interleave or restrictive."),
        new("NumaTune:StrictMemory", "warn", "When a strict binding cannot hold the guest's memory: warn (boot, warn " +
            "on stderr), prefer (rewrite to preferred; interleave for several nodes) or fail (refuse to start)."),
        new("NumaTune:PreferredManyNodes", "fail", "A preferred binding on more than one node where this host's " +
            "libvirt (before 9.3) or kernel (without MPOL_PREFERRED_MANY) cannot start it: fail (refuse, naming the " +
            "alternatives) or interleave (rewrite to interleave, with a warning)."),
        new("CpuTune:SharedPolicy", "fail", "cputune/pincpu pins of a VM whose engine CPU Pinning Policy is 'none', " +
            "which VDSM moves back to the shared CPU pool after boot: fail (refuse the start, say what to set in the " +
            "engine) or warn (write them, warn that they will not last)."),
        new("GuestNuma:TopologyMismatch", "warn", "Guest NUMA cells whose boundary falls inside a guest socket (die) " +
            "or core of the domain's <cpu><topology>, which gives the guest kernel a scheduling topology that " +
            "contradicts its NUMA map: warn (boot, warn on stderr) or fail (refuse to start)."),
        new("Ksm:StateDir", "/run/vdsm-hook-largeguest", "Directory for the KSM request registry, lock and journal " +
            "(reset at reboot, like KSM)."),
        new("Ksm:MemoryReservePercent", "10", "Share of MemAvailable kept free when deciding whether unmerging KSM " +
            "pages fits."),
        new("Ksm:OnFailure", "warn", "When the KSM policy cannot be applied: warn (the VM boots) or fail (the VM " +
            "start is refused)."),
        new("Ksm:UnmergeTimeoutSeconds", "3600", "Upper cap on the time an unmerge may take before it is interrupted " +
            "and rolled back."),
        new("Ksm:UnmergeSecondsPerGiB", "2", "Time an unmerge is allowed per GiB it must unmerge, on top of 10 s " +
            "(the bound follows the work, capped by Ksm:UnmergeTimeoutSeconds; 2 s/GiB is 5x the slowest rate " +
            "measured)."),
        new("Ksm:LockTimeoutSeconds", "30", "Longest wait for the host-wide KSM lock."),
        new("Ksm:StaleGraceSeconds", "300", "Age after which a request of a VM that libvirt does not know is ignored."),
        new("Ksm:MaxRequests", "4096", "Most KSM request files the registry holds: a registration beyond it is " +
            "refused, and a registry found holding more is an error (a flood of files must not slow every VM start)."),
        new("Ksm:DefaultMergeAcrossNodes", "", "merge_across_nodes when no VM asked: 0, 1, or empty to leave the " +
            "host as it is."),
        new("KsmTune:Mode", "customized", "Tuning parameter set: standard (boost 0, decay 0, pages 100..100, sleep " +
            "20), high (200, 50, 100..10000, 20) or customized (the values below, else /etc/ksmtuned.conf, else " +
            "ksmtuned's defaults)."),
        new("KsmTune:ThresCoef", "", "Percent of RAM: free memory below it starts ksmd. Empty: KSM_THRES_COEF from " +
            "ksmtuned.conf (20)."),
        new("KsmTune:ThresConstKiB", "", "Lowest threshold in KiB. Empty: KSM_THRES_CONST from ksmtuned.conf (2048)."),
        new("KsmTune:Boost", "", "Customized mode: pages_to_scan added per cycle under pressure. Empty: " +
            "KSM_NPAGES_BOOST (300)."),
        new("KsmTune:Decay", "", "Customized mode: pages_to_scan taken away per cycle without pressure (a positive " +
            "amount). Empty: minus KSM_NPAGES_DECAY (50)."),
        new("KsmTune:MinPages", "", "Customized mode: lowest pages_to_scan. Empty: KSM_NPAGES_MIN (64)."),
        new("KsmTune:MaxPages", "", "Customized mode: highest pages_to_scan. Empty: KSM_NPAGES_MAX (1250)."),
        new("KsmTune:SleepMsec", "", "Customized mode: ksmd sleep between batches on a 16 GiB host, scaled by RAM, " +
            "at least 10. Empty: KSM_SLEEP_MSEC (10)."),
        new("KsmTune:IntervalSeconds", "", "Seconds between tuning cycles. Empty: KSM_MONITOR_INTERVAL (60)."),
        new("KsmTune:KsmtunedConf", "/etc/ksmtuned.conf", "ksmtuned's configuration file, read for the keys above " +
            "when they are empty; empty: do not read it."),
        new("KsmTune:Listen", "127.0.0.1:9926", "ADDRESS:PORT of the daemon's Prometheus endpoint (GET /metrics); " +
            "empty: no endpoint."),
        new("KsmTune:TextfilePath", "", "node_exporter textfile (a .prom file) the daemon rewrites each cycle; " +
            "empty: none."),
        new("KsmTune:CpuSampleMilliseconds", "1000", "Interval over which 'largeguest ksm metrics' measures ksmd's " +
            "CPU use."),
        new("KsmTune:GuestStateDir", "/run/libvirt/qemu", "libvirt's QEMU state directory (one NAME.xml per running " +
            "guest), watched with inotify: a guest start or stop makes the daemon cycle within seconds. Empty: " +
            "cycles only every interval and on 'ksm retune'."),
        new("Mom:ConfigPath", "/etc/vdsm/mom.conf", "MoM's configuration file (controllers, rpc-port, policy-dir); " +
            "no such file: no MoM on this host."),
    ];
}
