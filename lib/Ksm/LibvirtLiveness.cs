using Largeguest.Host.Libvirt;

namespace Largeguest.Ksm;

/// <summary>
/// Asks libvirt (read-only connection to Topology:LibvirtUri, through the product's own binding) whether the VMs
/// of registered requests still exist. "No such domain" is <see cref="VmPresence.Absent"/>; any other answer,
/// including libvirt being unreachable, is <see cref="VmPresence.Unknown"/>, which counts as alive: a request is
/// never dropped on a guess. One connection per lookup batch; the runner only asks when the answer matters.
/// </summary>
public sealed class LibvirtLiveness(string uri) : IVmLiveness
{
    public string Uri { get; } = uri;

    public IReadOnlyDictionary<VmId, VmPresence> Lookup(IReadOnlyCollection<VmId> vms)
    {
        var result = vms.ToDictionary(v => v, _ => VmPresence.Unknown);
        if (vms.Count == 0) return result;
        try
        {
            using var connect = Connect.OpenReadOnly(Uri);
            foreach (var vm in vms)
            {
                try { result[vm] = connect.DomainExists(vm.Value) ? VmPresence.Present : VmPresence.Absent; }
                catch (LibvirtException) { } // this one stays Unknown
            }
        }
        catch (LibvirtException) { } // libvirt unreachable or not installed: every VM counts as alive
        return result;
    }
}
