using System.Text.RegularExpressions;
using Largeguest.Config;
using Largeguest.Grammar;
using Largeguest.Hook;
using Largeguest.IO;

namespace Largeguest.Tests.Support;

/// <summary>
/// One golden case: a realistic oVirt domain (Fixtures/*.xml), the custom properties set on the VM,
/// and the reviewed output (Fixtures/&lt;Name&gt;.expected.xml) the hook must write for them.
/// <paramref name="Warning"/>:
/// a line the rewrite must print (a change beyond the request, a warning or note), else stderr stays empty.
/// <paramref name="Settings"/>:
/// configuration set for the case, as the hook's LARGEGUEST__ environment variables.
/// </summary>
public sealed record GoldenCase(string Name, string Fixture, IReadOnlyDictionary<string, string> Properties,
    string? Warning = null,
    IReadOnlyDictionary<string, string>? Settings = null)
{
    /// <summary>The configuration of the case: the sample host's with <see cref="Settings"/> on top.</summary>
    public LargeguestConfig Config => Settings is null ? SampleHost.Config
        : LargeguestConfig.Load(SampleHost.Environment.Concat(Settings).ToDictionary(), privileged: false,
            warning => throw new InvalidOperationException(warning));

    public override string ToString() => Name; // the test name shown by xunit
    public byte[] Input => Fixtures.Read(Fixture);
    public string ExpectedPath => Fixtures.PathOf($"{Name}.expected.xml");
}

public static class Fixtures
{
    public static string Dir => Path.Combine(PublishedBinary.RepoRoot, "tests", "Largeguest.Tests", "Fixtures");
    public static string PathOf(string name) => Path.Combine(Dir, name);
    public static byte[] Read(string name) => File.ReadAllBytes(PathOf(name));

    private static Dictionary<string, string> P(params (string Name,
        string Value)[] values) => values.ToDictionary(v => v.Name, v => v.Value);

    public static readonly GoldenCase[] Cases =
    [
        // VDSM style (double quotes, " />"), existing <cputune> with <shares> and vcpupins, <numatune> with
        // memory + memnodes, <cpu><numa>, a DIMM on node 1, oVirt metadata with two prefixes for one namespace.
        new("sap-all", "ovirt-sap-vdsm.xml",
            P(("cputune", "0-1#0-3,^2,emulator#8-9"), ("numatune", "interleave#0-1"), ("guestnuma",
                "0-7#4G#0,8-15#4G#1"))),
        new("sap-cputune", "ovirt-sap-vdsm.xml", P(("cputune", "0#4, 15#12-15"))),
        // libvirt style (single quotes, "/>"), <vcpu current='2'>16</vcpu>, nothing of ours present yet,
        // numatune as a bare nodeset (mode from config: preferred, so one node, docs/topology.md), guestnuma with
        // suffixes and the glue-to-next rule.
        new("hana-all", "ovirt-hana-libvirt.xml",
            P(("cputune", "0-7#0-15,^1,8-15#16-31,emulator#0-1"), ("numatune", "1"), ("guestnuma",
                "0-3,8-11#8GiB#0,4-7,12-15#8192M#1"))),
        // A domain on one line stays on one line.
        new("oneline-all", "oneline.xml",
            P(("cputune", "0-3#0-3"), ("numatune", "strict#0"), ("guestnuma", "0-1#2G,2-3#2G"))),
        // The retired hooks' properties, tab-indented document.
        new("legacy", "legacy-hooks.xml", P(("pincpu", "1-4,^3"), ("numa", "strict:0"))),
        // <maxMemory> with two DIMMs (one sized in MiB): the cells add up to <memory> minus the DIMMs;
        // <cputune> with <period>/<quota> kept; the retired numa hook's colon spelling in numatune.
        new("hotplug-all", "ovirt-hotplug-libvirt.xml",
            P(("cputune", "0-7#0-7,emulator#0"), ("numatune", "restrictive:0-1"), ("guestnuma",
                "0-1,4-5#4G,2-3,6-7#4194304"))),
        // I/O threads: <iothreads>4</iothreads> with <iothreadids> 1 and 8 (libvirt fills in 2 and 3); the existing
        // iothreadpin of 8 is replaced, that of 3 kept, 1 and 2 added after it; <shares> kept; cells of whole guest
        // sockets.
        new("iothreads-all", "ovirt-db-iothreads-libvirt.xml",
            P(("cputune", "0-7#0-3,16-19,8-15#8-11,24-27,emulator#4,20,iothread1#5,21,iothread8#12,28,iothread2#13"),
                ("numatune", "interleave#0-1"), ("guestnuma", "0-7#8G#0,8-15#8G#1"))),
        // Huge pages for guest nodes 0-1 (<page nodeset='0-1'>) on a vhost-user VM: the new cells keep both guest
        // nodes.
        new("hugepages-cells", "ovirt-dpdk-hugepages-libvirt.xml", P(("numatune", "interleave#0-1"), ("guestnuma",
            "0-3#4G#0,4-7#4G#1"))),
        // restrictive with a cell too large for its node under NumaTune:StrictMemory=prefer: the relaxed cell relaxes
        // the guest-wide binding (libvirt requires every memnode restrictive under restrictive memory); the other cell
        // stays confined, as strict.
        new("restrictive-relaxed", "ovirt-erp-libvirt.xml", P(("numatune", "restrictive#0-1"), ("guestnuma",
            "0-7#60G#0,8-15#4G#1")),
            "numatune: restrictive binding: rewritten to interleave#0-1 together with cell 0, because libvirt " +
                "requires every memnode restrictive",
            P(("LARGEGUEST__NumaTune__StrictMemory", "prefer"))),
        // pincpu on a domain under numad placement (<vcpu placement='auto'>, <memory placement='auto'/>): libvirt would
        // ignore the cpuset, so the placement becomes static and numad's memory placement goes with it.
        new("numad-pincpu", "ovirt-numad-libvirt.xml", P(("pincpu", "2-5")),
            "pincpu: the domain has <vcpu placement='auto'>, under which libvirt ignores a cpuset and lets numad " +
                "choose the CPUs; " +
            "the hook writes placement='static' so the pinning 2-5 is applied and drops <numatune><memory " +
                "placement='auto'/>"),
    ];

    public static TheoryData<GoldenCase> All()
    {
        var data = new TheoryData<GoldenCase>();
        foreach (var c in Cases) data.Add(c);
        return data;
    }

    public static GoldenCase Case(string name) => Cases.Single(c => c.Name == name);

    /// <summary>The case's in-process rewrite of <paramref name="input"/>, with its configuration;
    /// <paramref name="stderr"/>: what the checks said.</summary>
    public static byte[] Rewrite(GoldenCase golden, byte[] input, out string stderr) => Rewrite(input,
        golden.Properties, golden.Config, out stderr);

    /// <summary>The in-process rewrite with default configuration on the sample host (what the published hook must
    /// match).</summary>
    public static byte[] Rewrite(byte[] input, IReadOnlyDictionary<string, string> properties) => Rewrite(input,
        properties, out _);

    /// <summary>As <see cref="Rewrite(byte[], IReadOnlyDictionary{string, string})"/>, with what the host checks said
    /// (warnings, notes).</summary>
    public static byte[] Rewrite(byte[] input, IReadOnlyDictionary<string, string> properties, out string stderr) =>
        Rewrite(input, properties, SampleHost.Config, out stderr);

    private static byte[] Rewrite(byte[] input, IReadOnlyDictionary<string, string> properties,
        LargeguestConfig config, out string stderr)
    {
        var diagnostics = new StringWriter();
        var output = HookRunner.Rewrite(input, LargeguestProperties.Parse(properties, config.DefaultMode), config,
            HostContext.ForHost(config, new Diagnostics(diagnostics)));
        stderr = diagnostics.ToString();
        return output.ToArray();
    }

    /// <summary>
    /// The document with everything the given properties own cut out (and the containers the hook may
    /// have created for them, once empty). Input and output must be byte-identical after this.
    /// </summary>
    public static string WithoutOwnedParts(string xml, IReadOnlyCollection<string> properties)
    {
        const RegexOptions S = RegexOptions.Singleline;
        var has = (string p) => properties.Contains(p);
        if (has("cputune"))
        {
            xml = Regex.Replace(xml, @"\s*<(vcpupin|emulatorpin|iothreadpin)\b[^>]*/>", "");
            xml = Regex.Replace(xml, @"\s*<cputune>\s*</cputune>", "");
        }
        if (has("pincpu"))
        {
            xml = Regex.Replace(xml, @"(<vcpu\b[^>]*?)\s+cpuset=(['""])[^'""]*\2", "$1");
            // Static pinning replaces numad's placement (docs/topology.md).
            xml = Regex.Replace(xml, @"(<vcpu\b[^>]*?)\s+placement=(['""])(auto|static)\2", "$1");
            xml = Regex.Replace(xml, @"\s*<memory\b(?=[^>]*\bplacement=(['""])auto\1)[^>]*/>", "");
        }
        if (has("numatune") || has("numa")) xml = Regex.Replace(xml, @"\s*<memory\b(?=[^>]*\bnodeset=)[^>]*/>", "");
        if (has("guestnuma"))
        {
            xml = Regex.Replace(xml, @"\s*<numa>.*?</numa>", "", S);
            xml = Regex.Replace(xml, @"\s*<memnode\b[^>]*/>", "");
            xml = Regex.Replace(xml, @"\s*<cpu>\s*</cpu>", "");
        }
        return Regex.Replace(xml, @"\s*<numatune>\s*</numatune>", "");
    }
}
