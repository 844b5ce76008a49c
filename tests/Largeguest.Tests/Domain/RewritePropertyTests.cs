using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Tests.Grammar;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Domain;

/// <summary>Generated property sets that fit the 16-vCPU, 16 GiB HANA fixture and the sample host (CPUs 0-31, nodes
/// 0-1).</summary>
public static class FittingProperties
{
    public const int Vcpus = 16;
    public const long MemoryKiB = 16L * 1024 * 1024;

    private static Gen<CpuSet> HostCpus =>
        from ids in Gen.NonEmptyListOf(Gen.Choose(0, 31))
        select CpuSet.Of(ids);

    private static Gen<string> HostNodes => Gen.Elements("0", "1", "0-1", "0,1");

    private static Gen<string> CpuTune =>
        from assignment in Gen.ArrayOf(Gen.Choose(-1, 3), Vcpus) // -1: not pinned; else one of four cpusets
        from sets in Gen.ArrayOf(HostCpus, 4)
        from emulator in Gen.Elements(true, false)
        from ioThread in Gen.Elements(true, false) // the fixture has <iothreads>1</iothreads>
        let pins = Enumerable.Range(0, Vcpus).Where(v => assignment[v] >= 0).Select(v => $"{v}#{sets[assignment[v]]}")
        let withEmulator = emulator ? pins.Append($"emulator#{sets[0]}") : pins
        let all = ioThread ? withEmulator.Append($"iothread1#{sets[1]}") : withEmulator
        where all.Any()
        select string.Join(",", all);

    private static Gen<string> GuestNuma =>
        from cells in Gen.Choose(1, 4)
        from assignment in Gen.ArrayOf(Gen.Choose(0, cells - 1), Vcpus)
        where Enumerable.Range(0, cells).All(assignment.Contains)
        from cuts in Gen.ArrayOf(Gen.Choose(1, 16 * 1024 - 1), cells - 1) // MiB boundaries
        from nodes in Gen.ArrayOf(Gen.Elements("", "#0", "#1", "#0-1"), cells)
        let bounds = cuts.Distinct().Order().Prepend(0).Append(16 * 1024).ToArray()
        where bounds.Length == cells + 1
        select string.Join(",", Enumerable.Range(0, cells).Select(c =>
            $"{CpuSet.Of(Enumerable.Range(0, Vcpus).Where(v => assignment[v] == c))}" +
            $"#{bounds[c + 1] - bounds[c]}M{nodes[c]}"));

    private static Gen<string> NumaTune =>
        from mode in Gen.Elements("strict#", "preferred#", "interleave:", "restrictive#", "")
        from nodes in HostNodes
        // preferred (also a bare nodeset's default mode) on several nodes fits only libvirt 9.3+ (docs/topology.md)
        where !(mode is "preferred#" or "" && nodes.Length > 1)
        select mode + nodes;

    public static Arbitrary<Dictionary<string, string>> Sets() =>
        (from c in Gen.Elements(true, false).Zip(CpuTune)
         from n in Gen.Elements(true, false).Zip(NumaTune)
         from g in Gen.Elements(true, false).Zip(GuestNuma)
         from p in Gen.Elements(true, false).Zip(HostCpus)
         let set = new[] { ("cputune", c), ("numatune", n), ("guestnuma", g), ("pincpu", (p.Item1,
             p.Item2.ToString())) }
             .Where(x => x.Item2.Item1).ToDictionary(x => x.Item1, x => x.Item2.Item2)
         where set.Count > 0
         select set).ToArbitrary();
}

public class RewritePropertyTests
{
    private static readonly byte[] Hana = Fixtures.Read("ovirt-hana-libvirt.xml");

    [Property(Arbitrary = [typeof(FittingProperties)], MaxTest = 300)]
    public void Fitting_properties_rewrite_idempotently_and_touch_only_their_elements(Dictionary<string,
        string> properties)
    {
        var once = Fixtures.Rewrite(Hana, properties);
        Fixtures.Rewrite(once, properties).Should().Equal(once, "a second run gives the same bytes");
        var names = properties.Keys.ToList();
        Fixtures.WithoutOwnedParts(Encoding.UTF8.GetString(once), names)
            .Should().Be(Fixtures.WithoutOwnedParts(Encoding.UTF8.GetString(Hana), names));
        var doc = DomainDocument.Parse(once);
        if (properties.TryGetValue("guestnuma", out var numa))
            doc.Root.Element("cpu")!.Element("numa")!.Elements("cell")
                .Should().HaveCount(Largeguest.Grammar.GuestNuma.Parse(numa).Cells.Count);
        if (properties.TryGetValue("cputune", out var tune))
        {
            doc.Root.Element("cputune")!.Elements("vcpupin")
                .Should().HaveCount(Largeguest.Grammar.CpuTune.Parse(tune).PinnedVcpus.Count());
            doc.Root.Element("cputune")!.Elements("iothreadpin")
                .Should().HaveCount(Largeguest.Grammar.CpuTune.Parse(tune).IoThreads.Count);
        }
    }

    [Property(Arbitrary = [typeof(GrammarGenerators)], MaxTest = 1000)]
    public void Random_property_strings_on_a_real_domain_give_xml_or_our_errors(string cputune, string guestnuma,
        string numatune)
    {
        var values = LargeguestProperties.Select(new Dictionary<string, string>
        {
            ["cputune"] = cputune, ["guestnuma"] = guestnuma, ["numatune"] = numatune,
        }.GetValueOrDefault);
        if (values.Count == 0) return;
        try
        {
            var once = Fixtures.Rewrite(Hana, values);
            Fixtures.Rewrite(once, values).Should().Equal(once);
        }
        catch (PropertyException e) { values.Should().ContainKey(e.Property); }
    }
}
