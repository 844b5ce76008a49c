using System.Runtime.InteropServices;
using Largeguest.Host.Libvirt;

namespace Largeguest.Host;

/// <summary>
/// Whether this host applies a guest's memory <c>preferred</c> on more than one node (docs/topology.md,
/// "preferred on several nodes"). libvirt before 9.3 does not: with QEMU's memory backends (every guest with
/// NUMA cells, and libvirt 9.0 with QEMU 7.2 always) the kernel gets <c>MPOL_PREFERRED</c>, which prefers the
/// first node only (seen on the two-node test host, docs/e2e.md); on its other path libvirt refuses the start
/// ("NUMA memory tuning in 'preferred' mode only supports single node"). 9.3 and later use the kernel's
/// <c>MPOL_PREFERRED_MANY</c>, which Linux has since 5.15, and fail where the kernel lacks it. <see cref="Decide"/> is
/// the pure rule, <see cref="Probe"/> asks this host.
/// </summary>
public sealed partial record PreferredMany(bool Supported, string Why)
{
    public static readonly Version FirstLibvirt = new(9, 3, 0);

    /// <param name="libvirt">The libvirt library's version; null when it cannot be told.</param>
    /// <param name="kernelHasPreferredMany">Whether the kernel accepts <c>MPOL_PREFERRED_MANY</c>; null when not
    /// probed.</param>
    public static PreferredMany Decide(Version? libvirt, bool? kernelHasPreferredMany)
    {
        if (libvirt is null)
            return new(false, "libvirt's version cannot be told, and libvirt before 9.3 does not apply 'preferred' " +
                "on more than one node");
        if (libvirt < FirstLibvirt)
            return new(false, $"libvirt {libvirt} does not apply it: the kernel would prefer only the first node and " +
                "silently ignore the others (or libvirt refuses the start: \"NUMA memory tuning in 'preferred' mode " +
                "only supports single node\"); libvirt supports it from 9.3");
        return kernelHasPreferredMany == true
            ? new(true, $"libvirt {libvirt} and the kernel's MPOL_PREFERRED_MANY support it")
            : new(false, $"libvirt {libvirt} needs the kernel's MPOL_PREFERRED_MANY (Linux 5.15+), which this kernel " +
                "does not accept");
    }

    /// <summary>This host: the version of <c>libvirt.so.0</c> and, for libvirt 9.3+, a probe of the kernel.</summary>
    public static PreferredMany Probe()
    {
        var libvirt = LibvirtVersion();
        return Decide(libvirt, libvirt is not null && libvirt >= FirstLibvirt ? KernelHasPreferredMany() : null);
    }

    /// <summary><c>virGetVersion</c> of the client library (on a host, the same package as the daemon); null if not
    /// loadable.</summary>
    public static Version? LibvirtVersion()
    {
        try { return Connect.LibraryVersion(); }
        catch (LibvirtException) { return null; }
    }

    private const int MPOL_DEFAULT = 0, MPOL_PREFERRED_MANY = 5;
    private const long SYS_set_mempolicy = 238; // x86_64

    /// <summary>
    /// Sets <c>MPOL_PREFERRED_MANY</c> on node 0 for this thread and resets it at once (as libnuma's
    /// <c>numa_has_preferred_many</c> does): a kernel without it answers EINVAL. Our own process allocates
    /// nothing meanwhile that the policy could misplace.
    /// </summary>
    public static bool KernelHasPreferredMany()
    {
        ulong mask = 1;
        var accepted = SetMempolicy(SYS_set_mempolicy, MPOL_PREFERRED_MANY, ref mask, 64) == 0;
        if (accepted) SetMempolicy(SYS_set_mempolicy, MPOL_DEFAULT, ref mask, 0);
        return accepted;
    }

    [LibraryImport("libc", EntryPoint = "syscall")]
    private static partial long SetMempolicy(long number, int mode, ref ulong nodemask, ulong maxnode);
}
