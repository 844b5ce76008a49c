namespace Largeguest.Ksm;

/// <summary>What libvirt says about a VM a request was registered for.</summary>
public enum VmPresence
{
    /// <summary>libvirt knows the domain.</summary>
    Present,
    /// <summary>libvirt answered: no such domain.</summary>
    Absent,
    /// <summary>No answer (libvirt unreachable, or no lookup made): the request counts as live.</summary>
    Unknown,
}

/// <summary>Tells whether the VMs of registered requests still exist; only <see cref="VmPresence.Absent"/> can make a
/// request stale.</summary>
public interface IVmLiveness
{
    IReadOnlyDictionary<VmId, VmPresence> Lookup(IReadOnlyCollection<VmId> vms);
}

/// <summary>Makes no lookup and calls every VM <see cref="VmPresence.Unknown"/>: no request is ever stale
/// (tests).</summary>
internal sealed class AssumeAlive : IVmLiveness
{
    public static AssumeAlive Instance { get; } = new();

    public IReadOnlyDictionary<VmId, VmPresence> Lookup(IReadOnlyCollection<VmId> vms) =>
        vms.ToDictionary(v => v, _ => VmPresence.Unknown);
}
