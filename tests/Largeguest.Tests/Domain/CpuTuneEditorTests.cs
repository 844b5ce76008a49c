using System.Xml.Linq;
using System.Globalization;
using System.Text;
using Largeguest.Domain;
using Largeguest.Domain.Editors;
using Largeguest.Grammar;

namespace Largeguest.Tests.Domain;

/// <summary>The vcpupin merge rules of <see cref="CpuTuneEditor"/> on existing pins, duplicates included.</summary>
public class CpuTuneEditorTests
{
    private static string Apply(string xml, string cputune)
    {
        var doc = DomainDocument.Parse(Encoding.UTF8.GetBytes(xml));
        CpuTuneEditor.Apply(doc, CpuTune.Parse(cputune));
        return doc.ToText();
    }

    [Fact]
    public void A_duplicate_pin_is_dropped_and_new_pins_follow_the_last_one_left()
    {
        const string xml = "<domain><vcpu>8</vcpu><cputune><shares>10</shares><vcpupin vcpu='1' cpuset='9'/><vcpupin " +
            "vcpu='3' cpuset='7'/><vcpupin vcpu='3' cpuset='8'/></cputune></domain>";
        Apply(xml, "3#0,4-5#1").Should().Be(
            "<domain><vcpu>8</vcpu><cputune><shares>10</shares><vcpupin vcpu='1' cpuset='9'/><vcpupin vcpu='3' " +
                "cpuset='0'/>" +
            "<vcpupin vcpu='4' cpuset='1'/><vcpupin vcpu='5' cpuset='1'/></cputune></domain>");
    }

    [Fact]
    public void Iothread_pins_replace_that_threads_old_pin_and_new_ones_follow_the_emulator_pin()
    {
        const string xml = "<domain><vcpu>2</vcpu><iothreads>3</iothreads><cputune><vcpupin vcpu='0' " +
            "cpuset='1'/><emulatorpin cpuset='0'/>" +
            "<shares>10</shares><iothreadpin iothread='2' cpuset='9'/><iothreadpin iothread='2' " +
                "cpuset='8'/></cputune></domain>";
        Apply(xml, "iothread3#5,iothread2#4").Should().Be(
            "<domain><vcpu>2</vcpu><iothreads>3</iothreads><cputune><vcpupin vcpu='0' cpuset='1'/><emulatorpin " +
                "cpuset='0'/>" +
            "<shares>10</shares><iothreadpin iothread='2' cpuset='4'/><iothreadpin iothread='3' " +
                "cpuset='5'/></cputune></domain>");
        Apply("<domain><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/><shares>10</shares></cputune></domain>",
            "1#2,emulator#3,iothread1#4").Should().Be(
            "<domain><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='2'/><emulatorpin " +
                "cpuset='3'/><iothreadpin iothread='1' cpuset='4'/><shares>10</shares></cputune></domain>");
    }

    /// <summary>
    /// The vcpupin merge as it was before it was made linear (each vCPU rescanned every pin: 16384 vCPUs took
    /// 7.6 s), kept as the reference the one-pass merge must equal.
    /// </summary>
    private static void QuadraticReference(DomainDocument doc, CpuTune tune)
    {
        var root = doc.Root;
        var cputune = root.Element("cputune") ?? XmlLayout.AddChild(root, new XElement("cputune"),
            root.Element("vcpu"));
        foreach (var (vcpu, cpuset) in tune.PinnedVcpus.OrderBy(p => p.Vcpu))
        {
            var id = vcpu.ToString(CultureInfo.InvariantCulture);
            var existing = cputune.Elements("vcpupin")
                .Where(e => ((string?)e.Attribute("vcpu"))?.Trim() == id).ToList();
            if (existing.Count == 0)
            {
                XmlLayout.AddChild(cputune, new XElement("vcpupin", new XAttribute("vcpu", id),
                    new XAttribute("cpuset", cpuset)),
                    cputune.Elements("vcpupin").LastOrDefault());
                continue;
            }
            CpuTuneEditor.SetAttribute(existing[0], "cpuset", cpuset.ToString());
            foreach (var duplicate in existing.Skip(1)) XmlLayout.Remove(duplicate);
        }
        if (tune.Emulator is { } emulator)
        {
            var pin = cputune.Element("emulatorpin")
                ?? XmlLayout.AddChild(cputune, new XElement("emulatorpin"),
                    cputune.Elements("vcpupin").LastOrDefault());
            CpuTuneEditor.SetAttribute(pin, "cpuset", emulator.ToString());
        }
    }

    [Fact]
    public void The_one_pass_merge_gives_what_the_quadratic_one_gave_on_small_domains()
    {
        var rng = new Random(20261203);
        var compared = 0;
        for (var run = 0; run < 2000; run++)
        {
            // Up to 8 vCPUs; old pins in any order, duplicated, with padded ids, among other children, indented or not.
            var indent = rng.Next(2) == 0 ? "" : "\n    ";
            var children = new List<string>();
            for (var i = rng.Next(6); i > 0; i--)
            {
                var vcpu = rng.Next(8).ToString(CultureInfo.InvariantCulture);
                children.Add(rng.Next(5) == 0 ? $"<vcpupin vcpu=' {vcpu} ' cpuset='{rng.Next(4)}'/>" : $"<vcpupin " +
                    $"vcpu='{vcpu}' cpuset='{rng.Next(4)}'/>");
            }
            if (rng.Next(2) == 0) children.Insert(rng.Next(children.Count + 1), "<shares>1024</shares>");
            if (rng.Next(3) == 0) children.Insert(rng.Next(children.Count + 1), "<emulatorpin cpuset='3'/>");
            var cputune = rng.Next(4) == 0
                ? ""
                : $"{indent}<cputune>{string.Concat(children.Select(c => indent + "  " + c))}{indent}</cputune>";
            var xml = $"<domain>{indent}<vcpu>8</vcpu>{cputune}{indent}</domain>";
            var entries = Enumerable.Range(0, 1 + rng.Next(4)).Select(_ =>
            {
                var first = rng.Next(8);
                var range = rng.Next(2) == 0 ? $"{first}" : $"{first}-{first + rng.Next(8 - first)}";
                return $"{range}#{rng.Next(4)}";
            }).ToList();
            if (rng.Next(3) == 0) entries.Add($"emulator#{rng.Next(4)}");
            CpuTune tune;
            try { tune = CpuTune.Parse(string.Join(",", entries)); }
            catch (SyntaxException) { continue; } // overlapping entries: refused before any edit
            var expected = DomainDocument.Parse(xml);
            QuadraticReference(expected, tune);
            Apply(xml, string.Join(",", entries))
                .Should().Be(expected.ToText(), $"{xml} with cputune={string.Join(",", entries)}");
            compared++;
        }
        compared.Should().BeGreaterThan(500);
    }

    /// <summary>The iothreadpin merge as it was when each new pin looked for the last pin anew (quadratic in the
    /// pins).</summary>
    private static void IoThreadReference(XElement cputune, IReadOnlyList<IoThreadPin> ioThreads)
    {
        var existing = cputune.Elements("iothreadpin").ToLookup(e => ((string?)e.Attribute("iothread"))?.Trim() ?? "");
        XElement? Last() => cputune.Elements("iothreadpin").LastOrDefault() ?? cputune.Element("emulatorpin")
            ?? cputune.Elements("vcpupin").LastOrDefault();
        foreach (var pin in ioThreads.OrderBy(p => p.Id))
        {
            var id = pin.Id.ToString(CultureInfo.InvariantCulture);
            var pins = existing[id].ToList();
            if (pins.Count == 0)
            {
                XmlLayout.AddChild(cputune, new XElement("iothreadpin", new XAttribute("iothread", id),
                    new XAttribute("cpuset", pin.CpuSet)), Last());
                continue;
            }
            CpuTuneEditor.SetAttribute(pins[0], "cpuset", pin.CpuSet.ToString());
            foreach (var duplicate in pins.Skip(1)) XmlLayout.Remove(duplicate);
        }
    }

    [Fact]
    public void The_iothread_merge_gives_what_the_quadratic_one_gave_on_small_domains()
    {
        static string Id(int n) => n.ToString(CultureInfo.InvariantCulture);
        var rng = new Random(1203);
        for (var run = 0; run < 2000; run++)
        {
            var indent = rng.Next(2) == 0 ? "" : "\n    ";
            var children = new List<string>();
            for (var i = rng.Next(6); i > 0; i--)
                children.Add(rng.Next(3) switch
                {
                    0 => $"<vcpupin vcpu='{rng.Next(4)}' cpuset='1'/>",
                    1 => "<shares>10</shares>",
                    _ => $"<iothreadpin " +
                        $"iothread='{(rng.Next(5) == 0 ? " 2 " : Id(1 + rng.Next(5)))}' " +
                        $"cpuset='{rng.Next(4)}'/>",
                });
            if (rng.Next(3) == 0) children.Insert(rng.Next(children.Count + 1), "<emulatorpin cpuset='3'/>");
            var xml = $"<domain>{indent}<vcpu>4</vcpu>{indent}<iothreads>6</iothreads>{indent}<cputune>" +
                $"{string.Concat(children.Select(c => indent + "  " + c))}{indent}</cputune>{indent}</domain>";
            var ids = Enumerable.Range(1, 6).Where(_ => rng.Next(2) == 0).ToList();
            if (ids.Count == 0) continue;
            var value = string.Join(",", ids.Select(i => $"iothread{i}#{rng.Next(4)}"));
            var expected = DomainDocument.Parse(xml);
            IoThreadReference(expected.Root.Element("cputune")!, CpuTune.Parse(value).IoThreads);
            Apply(xml, value).Should().Be(expected.ToText(), $"{xml} with cputune={value}");
        }
    }
}
