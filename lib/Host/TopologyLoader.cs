using Largeguest.Config;
using Largeguest.Host.Libvirt;

namespace Largeguest.Host;

/// <summary>
/// Reads the host topology from the configured source (<c>Topology:Source</c>): <c>sysfs</c>, <c>libvirt</c>,
/// or <c>auto</c> = libvirt when it answers, else sysfs with one note saying why.
/// </summary>
public static class TopologyLoader
{
    /// <param name="cpuTopology">Whether sockets, cores and thread siblings are needed (sysfs reads them only then;
    /// libvirt always has them).</param>
    /// <param name="hugePages">Whether huge page pools are needed (sysfs reads them only then).</param>
    public static HostTopology Load(LargeguestConfig config, Action<string> note,
        bool cpuTopology = true, bool hugePages = true)
    {
        switch (config.TopologySource)
        {
            case TopologySource.Sysfs:
                return SysfsTopologyReader.Read(config.SysfsRoot, cpuTopology, hugePages);
            case TopologySource.Libvirt:
                try { return LibvirtTopologyReader.Read(config.LibvirtUri, freePages: hugePages); }
                catch (LibvirtException e) { throw new TopologyException($"topology: {e.Message} (Topology:Source is " +
                    "libvirt; set it to auto or sysfs to read sysfs instead)", e); }
            default:
                try { return LibvirtTopologyReader.Read(config.LibvirtUri, freePages: hugePages); }
                catch (Exception e) when (e is LibvirtException or TopologyException)
                {
                    note($"topology: libvirt unavailable ({e.Message}); using sysfs {config.SysfsRoot}");
                    return SysfsTopologyReader.Read(config.SysfsRoot, cpuTopology, hugePages);
                }
        }
    }
}
