using Largeguest.Config;
using Largeguest.Hook;
using Largeguest.Host;
using Largeguest.IO;

namespace Largeguest.Tests.Support;

/// <summary>
/// The bundled sample host (samples/host-sysfs: 2 sockets, 2 nodes x 16 CPUs, 64 GiB per node) that the golden,
/// process and reliability tests check against, so that their results do not depend on the machine's topology.
/// </summary>
public static class SampleHost
{
    public static string SysfsRoot => Path.Combine(PublishedBinary.RepoRoot, "samples", "host-sysfs");

    /// <summary>For the published hook: LARGEGUEST__ overrides selecting the sample sysfs tree.</summary>
    public static IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string>
    {
        ["LARGEGUEST__Topology__Source"] = "sysfs",
        ["LARGEGUEST__Topology__SysfsRoot"] = SysfsRoot,
    };

    /// <summary>For in-process rewrites: the default configuration reading the sample sysfs tree.</summary>
    public static LargeguestConfig Config => LargeguestConfig.Defaults with { TopologySource = TopologySource.Sysfs,
        SysfsRoot = SysfsRoot };

    /// <summary>The host context of <see cref="Config"/>; warnings and notes go to <paramref name="stderr"/>.</summary>
    public static HostContext Context(TextWriter stderr) => HostContext.ForHost(Config, new Diagnostics(stderr));
}
