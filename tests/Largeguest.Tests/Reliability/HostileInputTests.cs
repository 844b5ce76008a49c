using System.Text;
using FsCheck.Fluent;
using Largeguest.Domain;
using Largeguest.Tests.Grammar;
using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.Reliability;

/// <summary>
/// Hostile input to the published hook: fuzzed property strings and mutated or malicious domain XML.
/// Always exit 0 or 2, never a stack trace or internal error, never a write on error, bounded time and
/// peak RSS (measured with wait4 through <see cref="RssProbe"/>).
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class HostileInputTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>When a run is killed: well past the goal, so that a slow run is measured and reported, not
    /// cut.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The hook's bound on any input within the 16 MiB cap (docs/grammar.md, "The XML file"): every case must stay
    /// under it. The worst cases take well under half of each (docs/testing.md), so load on a shared machine does
    /// not make this fail.
    /// </summary>
    private static readonly TimeSpan TimeGoal = TimeSpan.FromSeconds(2);
    private const long RssGoalKiB = 128 * 1024;

    private readonly VdsmHookRunner _vdsm = new() { DefaultEnvironment = SampleHost.Environment };
    public void Dispose() => _vdsm.Dispose();

    private sealed class Tally(string name)
    {
        public int Cases, Exit0, Exit2;
        public long MaxRssKiB;
        public TimeSpan MaxTime;
        public string MaxRssCase = "", MaxTimeCase = "";
        public override string ToString() =>
            $"{name}: {Cases} cases, {Exit0} exit 0, {Exit2} exit 2, max RSS {MaxRssKiB / 1024.0:F1} MiB " +
                $"({MaxRssCase}), " +
            $"max time {MaxTime.TotalMilliseconds:F0} ms ({MaxTimeCase})";
    }

    /// <summary>Runs one hostile case and checks the contract's promises for it.</summary>
    private HookRun Check(Tally tally, string label, byte[] xml, IReadOnlyDictionary<string, string> properties)
    {
        HookRun run;
        try { run = _vdsm.Run("before_vm_start", xml, properties, new HookRunOptions { MeasureRss = true,
            Timeout = Timeout }); }
        catch (TimeoutException e) { throw new Xunit.Sdk.XunitException($"{label}: {e.Message}"); }
        var why = $"{label}: {run}";
        run.ExitCodes.Should().HaveCount(1, why);
        run.ExitCodes[0].Should().BeOneOf([0, 2], why);
        run.Stdout.Should().BeEmpty(why);
        run.Stderr.Should().NotContain("   at ", why).And.NotContain("Unhandled", why)
            .And.NotContain("internal error", why);
        run.LeftoverFiles.Should().BeEmpty(why);
        if (run.ExitCodes[0] == 2)
        {
            run.Stderr.Should().MatchRegex("^largeguest: error: [^\n]+\n$", why);
            run.Stderr.TrimEnd('\n').Length.Should().BeLessThanOrEqualTo(Largeguest.IO.Diagnostics.MaxLineChars, why);
            run.Stderr.Should().NotContain("\u001b", why);
            run.Xml.Should().Equal(xml, $"never a write on error ({why})");
            run.FileUntouched.Should().BeTrue(why);
            tally.Exit2++;
        }
        else
        {
            FluentActions.Invoking(() => DomainDocument.Parse(run.Xml)).Should().NotThrow(why);
            tally.Exit0++;
        }
        run.Exits[0].Elapsed.Should().BeLessThan(TimeGoal, why);
        run.MaxRssKiB.Should().BeLessThan(RssGoalKiB, why);
        tally.Cases++;
        var shortLabel = label.Length > 60 ? label[..57] + "..." : label;
        if (run.MaxRssKiB > tally.MaxRssKiB) (tally.MaxRssKiB, tally.MaxRssCase) = (run.MaxRssKiB, shortLabel);
        if (run.Exits[0].Elapsed > tally.MaxTime) (tally.MaxTime, tally.MaxTimeCase) = (run.Exits[0].Elapsed,
            shortLabel);
        return run;
    }

    /// <summary>Not ksm_merge_across_nodes: a valid value would reconcile the real host's KSM (its own suite restores
    /// it).</summary>
    private static readonly string[] Names = ["cputune", "numatune", "guestnuma", "pincpu", "numa"];

    [Fact]
    public void Pinning_sixteen_thousand_vcpus_is_linear_not_quadratic()
    {
        // A range entry pins every vCPU of a 16384-vCPU domain (7.6 s when each vCPU rescanned every pin).
        var tally = new Tally("hostile input, cputune=0-16383#0-1 on a 16384-vCPU domain");
        var xml = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Fixtures.Read("ovirt-hana-libvirt.xml"))
            .Replace("current='2'>16</vcpu>", "current='2'>16384</vcpu>"));
        var run = Check(tally, "cputune=0-16383#0-1", xml, new Dictionary<string,
            string> { ["cputune"] = "0-16383#0-1" });
        Figures.Report(output, tally.ToString());
        run.ExitCodes.Should().Equal([0], run.ToString());
        Encoding.UTF8.GetString(run.Xml).Should().Contain("<vcpupin vcpu='16383' cpuset='0-1'/>");

    }

    [Fact]
    public void Eight_thousand_guest_cells_bound_to_host_nodes_are_not_quadratic()
    {
        // Each cell with host nodes: a <cell> and a <memnode> each (20 s when each cell rescanned the cells and
        // memnodes and the coverage check joined the cells one union at a time). 8192 entries: the most in a 128 KiB
        // value.
        var tally = new Tally("hostile input, guestnuma of 8192 cells with host nodes on an 8192-vCPU domain");
        var xml = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Fixtures.Read("ovirt-hana-libvirt.xml"))
            .Replace("current='2'>16</vcpu>", "current='2'>8192</vcpu>"));
        var value = string.Join(",", Enumerable.Range(0, 8192).Select(i => $"{i}#2M#0"));
        var run = Check(tally, "guestnuma=0#2M#0,...,8191#2M#0", xml, new Dictionary<string,
            string> { ["guestnuma"] = value });
        Figures.Report(output, tally.ToString());
        run.ExitCodes.Should().Equal([0], run.ToString());
        var text = Encoding.UTF8.GetString(run.Xml);
        text.Should().Contain("<cell id='8191' cpus='8191' memory='2048' unit='KiB'/>").And
            .Contain("<memnode cellid='8191' mode='preferred' nodeset='0'/>");
    }

    [Fact]
    public void Eight_thousand_iothread_pins_are_not_quadratic()
    {
        // Each pin looked for the last pin anew and checked against a list of the I/O threads: 6000 pins took 0.6 s.
        var tally = new Tally("hostile input, cputune of 8000 iothread pins on a domain with 8000 I/O threads");
        var xml = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Fixtures.Read("ovirt-hana-libvirt.xml"))
            .Replace("current='2'>16</vcpu>", "current='2'>16</vcpu><iothreads>8000</iothreads>"));
        var value = string.Join(",", Enumerable.Range(1, 8000).Select(i => $"iothread{i}#0"));
        var run = Check(tally, "cputune=iothread1#0,...,iothread8000#0", xml, new Dictionary<string,
            string> { ["cputune"] = value });
        Figures.Report(output, tally.ToString());
        run.ExitCodes.Should().Equal([0], run.ToString());
        Encoding.UTF8.GetString(run.Xml).Should().Contain("<iothreadpin iothread='8000' cpuset='0'/>");
    }

    [Fact]
    public void Fuzzed_property_strings()
    {
        var tally = new Tally("hostile input, fuzzed property strings");
        var xml = Fixtures.Read("ovirt-hana-libvirt.xml");
        var rng = new Random();
        foreach (var value in Gen.Sample(GrammarGenerators.PropertyLikeString, 300, 30))
        {
            if (value.Contains('\0')) continue; // an environment string cannot hold NUL
            var name = Names[rng.Next(Names.Length)];
            Check(tally, $"{name}='{value}'", xml, new Dictionary<string, string> { [name] = value });
        }
        // Random strings are rarely valid (a few in 300): these make sure the exit-0 path is always taken too.
        foreach (var (name, value) in new[] { ("numatune", " 1 "), ("pincpu", "0-3,^2"), ("cputune", "0#1,1#0") })
            Check(tally, $"{name}='{value}'", xml, new Dictionary<string, string> { [name] = value });
        Figures.Report(output, tally.ToString());
        tally.Cases.Should().BeGreaterThan(250);
        tally.Exit0.Should().BeGreaterThan(0, "some generated values are valid");
        tally.Exit2.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Property_values_at_the_kernels_size_limit()
    {
        // One environment string is at most 128 KiB (MAX_ARG_STRLEN): the largest values VDSM can pass.
        var tally = new Tally("hostile input, 120 KiB property values");
        var xml = Fixtures.Read("ovirt-hana-libvirt.xml");
        string Many(Func<int, string> entry, int count) => string.Join(",", Enumerable.Range(0, count).Select(entry));
        var cases = new Dictionary<string, (string Name, string Value)>
        {
            ["16384 single-vCPU guest cells"] = ("guestnuma", Many(i => $"{i}#1", 16384)),
            ["16384 vCPU pins"] = ("cputune", Many(i => $"{i}#0", 16384)),
            ["a 120 KiB cpuset"] = ("pincpu", Many(i => $"{i % 16384}", 24000)),
            ["30000 continuation tokens"] = ("cputune", "0#" + Many(i => $"{i % 16384}", 24000)),
            ["120 KiB of digits"] = ("numatune", new string('7', 120 * 1024)),
            ["120 KiB of commas"] = ("guestnuma", new string(',', 120 * 1024)),
        };
        foreach (var (label, (name, value)) in cases)
        {
            value.Length.Should().BeLessThan(128 * 1024);
            Check(tally, label, xml, new Dictionary<string, string> { [name] = value });
        }
        Figures.Report(output, tally.ToString());
    }

    [Fact]
    public void Truncated_bit_flipped_and_misencoded_domains()
    {
        var rng = new Random();
        var golden = Fixtures.Case("sap-all");
        var xml = golden.Input;
        var tally = new Tally("hostile input, mutated domain XML");
        for (var i = 0; i < 60; i++)
        {
            var cut = rng.Next(xml.Length);
            Check(tally, $"truncated at {cut}", xml[..cut], golden.Properties);
        }
        for (var i = 0; i < 60; i++)
        {
            var flipped = (byte[])xml.Clone();
            var at = rng.Next(xml.Length);
            flipped[at] ^= (byte)(1 << rng.Next(8));
            Check(tally, $"bit flipped at {at}", flipped, golden.Properties);
        }
        var text = Encoding.UTF8.GetString(xml);
        var encodings = new Dictionary<string, byte[]>
        {
            ["UTF-16LE with BOM"] = [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(text)],
            ["UTF-16BE without BOM"] = Encoding.BigEndianUnicode.GetBytes(text),
            ["UTF-32"] = Encoding.UTF32.GetBytes(text),
            ["Latin-1 declared"] = Encoding.Latin1.GetBytes(text.Replace("encoding='utf-8'",
                "encoding='ISO-8859-1'").Replace("01:00", "01:00 caf\u00e9")),
            ["Latin-1 bytes in UTF-8"] = Encoding.Latin1.GetBytes(text.Replace("01:00", "01:00 caf\u00e9")),
            ["overlong UTF-8"] = [.. xml[..200], 0xC0, 0xAF, .. xml[200..]],
            ["lone surrogate as CESU-8"] = [.. xml[..200], 0xED, 0xA0, 0x80, .. xml[200..]],
            ["NUL byte"] = [.. xml[..200], 0x00, .. xml[200..]],
            ["control character"] = Encoding.UTF8.GetBytes(text.Replace("01:00", "01:00 \u0001")),
            ["UTF-8 BOM then UTF-16 declaration"] = [0xEF, 0xBB, 0xBF,
                .. Encoding.UTF8.GetBytes(text.Replace("encoding='utf-8'", "encoding='UTF-16'"))],
            ["empty file"] = [],
            ["not XML"] = Encoding.UTF8.GetBytes("cputune=0#0\n"),
        };
        foreach (var (label, bytes) in encodings)
            Check(tally, label, bytes, golden.Properties).ExitCodes.Should().Equal([2], label);
        Figures.Report(output, tally.ToString());
        tally.Exit2.Should().BeGreaterThan(60, "every truncation and misencoding, and many bit flips, are errors");
    }

    [Fact]
    public void Malicious_structures_entities_and_sizes()
    {
        var tally = new Tally("hostile input, malicious XML");
        var properties = new Dictionary<string, string> { ["cputune"] = "0-3#0" };
        const string head = "<domain type='kvm'><name>x</name><memory>4194304</memory><vcpu>4</vcpu>";
        string Doc(string inner, string prolog = "") => prolog + head + inner + "</domain>";
        static string Attributes(int count) => string.Join(" ", Enumerable.Range(0, count).Select(i => $"a{i}='{i}'"));
        var laughs = "<!DOCTYPE domain [<!ENTITY l0 'ha'>" + string.Concat(Enumerable.Range(1, 12).Select(i =>
            $"<!ENTITY l{i} '{string.Concat(Enumerable.Repeat($"&l{i - 1};", 10))}'>")) + "]>";
        var cases = new List<(string Label, string Xml, int? Exit)>
        {
            ("billion laughs", Doc("<metadata><x>&l12;</x></metadata>", laughs), 2),
            ("external entity", Doc("<metadata><x>&e;</x></metadata>", "<!DOCTYPE domain [<!ENTITY e SYSTEM " +
                "'file:///etc/passwd'>]>"), 2),
            ("external DTD", Doc("", "<!DOCTYPE domain SYSTEM 'http://192.0.2.1/domain.dtd'>"), 2),
            ("parameter entity", Doc("", "<!DOCTYPE domain [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]>"), 2),
            ("undeclared entity", Doc("<metadata><x>&nbsp;</x></metadata>"), 2),
            ("deep nesting, 100k levels", Doc("<metadata>" + string.Concat(Enumerable.Repeat("<a>",
                100_000)) + string.Concat(Enumerable.Repeat("</a>", 100_000)) + "</metadata>"), 2),
            ("deep nesting, 1M levels", Doc("<metadata>" + string.Concat(Enumerable.Repeat("<a>",
                1_000_000)) + string.Concat(Enumerable.Repeat("</a>", 1_000_000)) + "</metadata>"), 2),
            ("nesting at the limit, many times",
                Doc("<metadata>" + string.Concat(Enumerable.Repeat(string.Concat(Enumerable.Repeat("<a>",
                DomainDocument.MaxDepth - 2)) + string.Concat(Enumerable.Repeat("</a>", DomainDocument.MaxDepth - 2)),
                400)) + "</metadata>"), 0),
            ("16 MiB of unclosed <a>", head + "<metadata>" + string.Concat(Enumerable.Repeat("<a>", 5_500_000)), 2),
            ("4M <a/>", Doc("<metadata>" + string.Concat(Enumerable.Repeat("<a/>", 4_000_000)) + "</metadata>"), 2),
            ("nodes up to the limit in 16 MiB",
                Doc("<metadata>" + string.Concat(Enumerable.Repeat("<x>" + new string('y', 120) + "</x>",
                124_000)) + "</metadata>"), 0),
            ("deep nesting, 100k levels, unclosed", Doc("<metadata>" + string.Concat(Enumerable.Repeat("<a>",
                100_000))), 2),
            ("12 MiB attribute value", Doc($"<metadata><x v='{new string('x', 12 << 20)}'/></metadata>"), 2),
            ("16 MiB text", Doc($"<metadata><x>{new string('x', (16 << 20) - 200)}</x></metadata>"), 2),
            ("16 Mi line breaks in one text", Doc($"<metadata><x>{new string('\n', (16 << 20) - 200)}</x></metadata>"),
                2),
            ("15 texts of 1 Mi line breaks",
                Doc("<metadata>" +
                    string.Concat(Enumerable.Repeat($"<x>{new string('\n', DomainDocument.MaxValueBytes)}</x>", 15)) +
                    "</metadata>"), 0),
            ("15 texts of 1 MiB",
                Doc("<metadata>" +
                    string.Concat(Enumerable.Repeat($"<x>{new string('x', DomainDocument.MaxValueBytes)}</x>", 15)) +
                    "</metadata>"), 0),
            ("15 attribute values of 1 MiB of entity references",
                Doc("<metadata>" +
                    string.Concat(Enumerable.Repeat(
                        $"<x v='{string.Concat(Enumerable.Repeat("&amp;", DomainDocument.MaxValueBytes / 5))}'/>",
                        15)) +
                    "</metadata>"), 0),
            ("17 MiB attribute value (over the 16 Mi-character cap)", Doc($"<metadata><x " +
                $"v='{new string('x', 17 << 20)}'/></metadata>"), 2),
            ("16 MiB of entity references", Doc($"<metadata><x " +
                $"v='{string.Concat(Enumerable.Repeat("&amp;", 3 << 20))}'/></metadata>"), 2),
            ("20000 attributes on one element", Doc("<metadata><x " + Attributes(20_000) + "/></metadata>"), 2),
            ("200000 attributes on one element", Doc("<metadata><x " + Attributes(200_000) + "/></metadata>"), 2),
            ("16 MiB of attributes on one element", Doc("<metadata><x " + Attributes(1_100_000))[..((16 << 20) - 100)],
                2),
            ("the most attributes allowed, up to the node limit",
                Doc("<metadata>" +
                    string.Concat(Enumerable.Repeat("<x " + Attributes(DomainDocument.MaxAttributesPerElement) + "/>",
                        DomainDocument.MaxNodes / (DomainDocument.MaxAttributesPerElement + 1) - 1)) +
                    "</metadata>"), 0),
            ("duplicate attribute among 50000", Doc("<metadata><x " + string.Join(" ", Enumerable.Range(0, 50_000)
                .Select(i => $"a{i % 49_999}='{i}'")) + "/></metadata>"), 2),
            ("1 MiB element name", Doc($"<metadata><{new string('n', 1 << 20)}/></metadata>"), 0),
            ("1 MiB element name with an ESC and 300 attributes",
                Doc($"<metadata><\u001b[31m{new string('n', 1 << 19)} " + Attributes(300) + "/></metadata>"), 2),
            ("16 MiB element name", Doc($"<metadata><{new string('n', (16 << 20) - 200)}/></metadata>"), 2),
            ("10000 namespace declarations", Doc("<metadata><x " + string.Join(" ", Enumerable.Range(0, 10_000)
                .Select(i => $"xmlns:p{i}='urn:{i}'")) + "/></metadata>"), 2),
            ("undeclared prefix", Doc("<metadata><p:x/></metadata>"), 2),
            ("two roots", Doc("") + "<domain/>", 2),
            ("vcpu 2^40", "<domain type='kvm'><memory>1</memory><vcpu>1099511627776</vcpu></domain>", 2),
            ("memory in exbibytes", "<domain type='kvm'><memory unit='EiB'>16</memory><vcpu>4</vcpu></domain>", 2),
        };
        foreach (var (label, xml, exit) in cases)
        {
            var run = Check(tally, label, Encoding.UTF8.GetBytes(xml), properties);
            if (exit is int e) run.ExitCodes.Should().Equal([e], $"{label}: {run}");
        }
        // Bigger than any domain (the parser's 64 Mi character limit): refused without reading it all.
        var huge = Encoding.UTF8.GetBytes(Doc($"<metadata><x>{new string('x', 80 << 20)}</x></metadata>"));
        var hugeRun = Check(tally, "80 MiB document", huge, properties);
        hugeRun.ExitCodes.Should().Equal([2]);
        Figures.Report(output, tally.ToString() + $"; the 80 MiB document: {hugeRun.MaxRssKiB / 1024.0:F0} MiB RSS, " +
            $"{hugeRun.Exits[0].Elapsed.TotalMilliseconds:F0} ms");
    }
}
