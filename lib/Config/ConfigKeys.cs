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
        new("Topology:Source", "auto", "Where the host topology comes from: auto (libvirt, falling back to sysfs), libvirt or sysfs."),
        new("Topology:LibvirtUri", "qemu:///system", "libvirt URI opened read-only for the host topology."),
        new("Topology:SysfsRoot", "/sys", "Root of the sysfs tree read for the host topology (tests point it at a fixture)."),
        new("Topology:NumadPath", "/usr/bin/numad", "The numad executable libvirt runs for numatune=auto; auto placement is refused when it is missing."),
        new("NumaTune:DefaultMode", "preferred", "Memory mode for a numatune value given as a bare NODESET, and for per-cell bindings: strict, preferred, interleave or restrictive."),
        new("NumaTune:StrictMemory", "warn", "When a strict binding cannot hold the guest's memory: warn (boot, warn on stderr), prefer (rewrite to preferred; interleave for several nodes) or fail (refuse to start)."),
        new("Ksm:StateDir", "/run/vdsm-hook-largeguest", "Directory for the KSM request registry, lock and journal (reset at reboot, like KSM)."),
        new("Ksm:MemoryReservePercent", "10", "Share of MemAvailable kept free when deciding whether unmerging KSM pages fits."),
        new("Ksm:OnFailure", "warn", "When the KSM policy cannot be applied: warn (the VM boots) or fail (the VM start is refused)."),
        new("Ksm:UnmergeTimeoutSeconds", "60", "Longest time an unmerge may take before it is interrupted and rolled back."),
        new("Ksm:LockTimeoutSeconds", "30", "Longest wait for the host-wide KSM lock."),
        new("Ksm:StaleGraceSeconds", "300", "Age after which a request of a VM that libvirt does not know is ignored."),
        new("Ksm:DefaultMergeAcrossNodes", "", "merge_across_nodes when no VM asked: 0, 1, or empty to leave the host as it is."),
    ];

    public static bool IsKnown(string key) => All.Any(k => k.Name.Equals(key, StringComparison.OrdinalIgnoreCase));
}
