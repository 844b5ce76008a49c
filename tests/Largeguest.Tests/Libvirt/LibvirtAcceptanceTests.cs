using System.Diagnostics;
using System.Xml.Linq;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Libvirt;

/// <summary>
/// Every rewritten fixture passes libvirt's own checks: its RelaxNG schema (virt-xml-validate) and its
/// parser with all its semantic checks (virsh define on the built-in test:///default driver).
/// The tools come from libvirt-clients (Makefile TEST_PACKAGES); a missing tool fails the test.
/// </summary>
public class LibvirtAcceptanceTests
{
    private static string Tool(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Append("/usr/bin"))
            if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        throw new Xunit.Sdk.XunitException($"{name} is not installed: it comes with the Debian package " +
            "libvirt-clients (`make test` installs it through scripts/ensure-packages.sh; or apt-get install " +
            "libvirt-clients)");
    }

    private static (int Code, string Output) Exec(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(Tool(tool), args) { RedirectStandardOutput = true,
            RedirectStandardError = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, (stdout.Result + stderr).Trim());
    }

    public static TheoryData<string> RewrittenFixtures()
    {
        var data = new TheoryData<string>();
        foreach (var c in Fixtures.Cases) data.Add(Path.GetFileName(c.ExpectedPath));
        return data;
    }

    [Theory]
    [MemberData(nameof(RewrittenFixtures))]
    public void Virt_xml_validate_accepts_the_rewritten_domain(string expected)
    {
        var (code, output) = Exec("virt-xml-validate", Fixtures.PathOf(expected), "domain");
        code.Should().Be(0, output);
        output.Should().EndWith("validates");
    }

    [Theory]
    [MemberData(nameof(RewrittenFixtures))]
    public void Virsh_defines_the_rewritten_domain_and_reads_back_our_elements(string expected) =>
        DefineAndReadBack(Fixtures.PathOf(expected));

    private static void DefineAndReadBack(string path)
    {
        var name = XDocument.Load(path).Root!.Element("name")!.Value;
        // One virsh process: the test driver's state lives as long as the connection.
        var (code, output) = Exec("virsh", "-c", "test:///default", $"define --validate {path}; dumpxml {name}; " +
            $"undefine {name}");
        code.Should().Be(0, output);
        output.Should().Contain($"Domain '{name}' defined").And.Contain($"Domain '{name}' has been undefined");

        // libvirt parsed what we wrote (it silently drops e.g. a vcpupin of a missing vCPU): our elements come back
        // from its formatter.
        var ours = XDocument.Load(path).Root!;
        var dumped = XDocument.Parse(output[output.IndexOf("<domain",
            StringComparison.Ordinal)..(output.IndexOf("</domain>", StringComparison.Ordinal) + 9)]).Root!;
        var pins = (ours.Element("cputune")?.Elements("vcpupin") ?? [])
            .Select(e => ((string?)e.Attribute("vcpu"), (string?)e.Attribute("cpuset"))).ToList();
        (dumped.Element("cputune")?.Elements("vcpupin") ?? [])
            .Select(e => ((string?)e.Attribute("vcpu"), (string?)e.Attribute("cpuset")))
            .Should().BeEquivalentTo(pins, "libvirt keeps every vcpupin we wrote");
        var ioPins = (ours.Element("cputune")?.Elements("iothreadpin") ?? [])
            .Select(e => ((string?)e.Attribute("iothread"), (string?)e.Attribute("cpuset"))).ToList();
        (dumped.Element("cputune")?.Elements("iothreadpin") ?? [])
            .Select(e => ((string?)e.Attribute("iothread"), (string?)e.Attribute("cpuset")))
            .Should().BeEquivalentTo(ioPins, "libvirt keeps every iothreadpin we wrote, for I/O threads it knows by " +
                "those ids");
        ((string?)dumped.Element("cputune")?.Element("emulatorpin")?.Attribute("cpuset"))
            .Should().Be((string?)ours.Element("cputune")?.Element("emulatorpin")?.Attribute("cpuset"));
        ((string?)dumped.Element("numatune")?.Element("memory")?.Attribute("nodeset"))
            .Should().Be((string?)ours.Element("numatune")?.Element("memory")?.Attribute("nodeset"));
        ((string?)dumped.Element("numatune")?.Element("memory")?.Attribute("mode"))
            .Should().Be((string?)ours.Element("numatune")?.Element("memory")?.Attribute("mode"));
        static (string?, string?, string?, string?, string) Cell(XElement c) => ((string?)c.Attribute("cpus"),
            (string?)c.Attribute("memory"),
            (string?)c.Attribute("memAccess"), (string?)c.Attribute("discard"),
            string.Join(",", c.Element("distances")?.Elements("sibling")
                .Select(s => $"{(string?)s.Attribute("id")}:{(string?)s.Attribute("value")}") ?? []));
        var cells = (ours.Element("cpu")?.Element("numa")?.Elements("cell") ?? []).Select(Cell).ToList();
        (dumped.Element("cpu")?.Element("numa")?.Elements("cell") ?? []).Select(Cell)
            .Should().Equal(cells, "libvirt keeps our cells with the attributes and distances carried over");
        ((string?)dumped.Element("vcpu")?.Attribute("cpuset"))
            .Should().Be((string?)ours.Element("vcpu")?.Attribute("cpuset"));
        // Automatic placement where we wrote it, and only there: libvirt would ignore a cpuset under it.
        ((string?)dumped.Element("vcpu")?.Attribute("placement") == "auto")
            .Should().Be((string?)ours.Element("vcpu")?.Attribute("placement") == "auto");
        ((string?)dumped.Element("numatune")?.Element("memory")?.Attribute("placement") == "auto")
            .Should().Be((string?)ours.Element("numatune")?.Element("memory")?.Attribute("placement") == "auto");
        var pages = (ours.Element("memoryBacking")?.Element("hugepages")?.Elements("page") ?? [])
            .Select(e => (string?)e.Attribute("nodeset")).ToList();
        (dumped.Element("memoryBacking")?.Element("hugepages")?.Elements("page") ?? [])
            .Select(e => (string?)e.Attribute("nodeset"))
            .Should().Equal(pages, "libvirt keeps every huge page nodeset we kept");
        var memNodes = (ours.Element("numatune")?.Elements("memnode") ?? [])
            .Select(e => ((string?)e.Attribute("cellid"), (string?)e.Attribute("mode"),
            (string?)e.Attribute("nodeset"))).ToList();
        (dumped.Element("numatune")?.Elements("memnode") ?? [])
            .Select(e => ((string?)e.Attribute("cellid"), (string?)e.Attribute("mode"),
            (string?)e.Attribute("nodeset")))
            .Should().Equal(memNodes, "libvirt keeps every memnode we wrote");
    }

    [Fact]
    public void The_libvirt_checks_can_fail()
    {
        var dir = Directory.CreateTempSubdirectory("largeguest-virsh-").FullName;
        try
        {
            var good = File.ReadAllText(Fixtures.PathOf("oneline-all.expected.xml"));
            var bad = Path.Combine(dir, "bad.xml");
            File.WriteAllText(bad, good.Replace("cpus='2-3'", "cpus='1-3'")); // overlapping cells
            Exec("virsh", "-c", "test:///default", $"define --validate {bad}").Code.Should().NotBe(0);
            File.WriteAllText(bad, good.Replace("<vcpupin vcpu='3'",
                "<vcpupin vcpu='9'")); // libvirt drops it with a warning
            FluentActions.Invoking(() => DefineAndReadBack(bad)).Should().Throw<Exception>();
            // A cpuset under automatic placement: libvirt drops it (numad's choice wins), the read-back sees it.
            File.WriteAllText(bad,
                File.ReadAllText(Fixtures.PathOf("numad-pincpu.expected.xml")).Replace("placement='static' cpuset",
                "placement='auto' cpuset"));
            FluentActions.Invoking(() => DefineAndReadBack(bad)).Should().Throw<Exception>();
            // A huge page nodeset naming a guest node without a cell: libvirt refuses it as DomainChecks does.
            File.WriteAllText(bad,
                File.ReadAllText(Fixtures.PathOf("hugepages-cells.expected.xml")).Replace("nodeset='0-1'/>",
                "nodeset='0-2'/>"));
            var (hcode, houtput) = Exec("virsh", "-c", "test:///default", $"define --validate {bad}");
            hcode.Should().NotBe(0);
            houtput.Should().Contain("hugepages: node 2 not found");
            // Restrictive memory with a relaxed memnode (what the hook wrote before it relaxed both together): refused.
            File.WriteAllText(bad,
                File.ReadAllText(Fixtures.PathOf("restrictive-relaxed.expected.xml"))
                    .Replace("<memory mode='interleave'", "<memory mode='restrictive'"));
            var (rcode, routput) = Exec("virsh", "-c", "test:///default", $"define --validate {bad}");
            rcode.Should().NotBe(0);
            routput.Should().Contain("'restrictive' mode is required in memnode element when mode is 'restrictive' " +
                "in memory element");
            File.WriteAllText(bad, good.Replace("<numatune>", "<numatune><bogus/>"));
            Exec("virt-xml-validate", bad, "domain").Code.Should().NotBe(0);
            // An iothreadpin of an I/O thread the domain lacks: libvirt refuses the domain (DomainChecks refuses it
            // first).
            var io = File.ReadAllText(Fixtures.PathOf("iothreads-all.expected.xml"));
            File.WriteAllText(bad, io.Replace("<iothreadpin iothread='2'", "<iothreadpin iothread='4'"));
            var (code, output) = Exec("virsh", "-c", "test:///default", $"define --validate {bad}");
            code.Should().NotBe(0);
            output.Should().Contain("iothread");
            File.WriteAllText(bad, io.Replace("<iothreadpin iothread='2' cpuset='13'/>", "<iothreadpin iothread='2' " +
                "cpuset=''/>"));
            Exec("virt-xml-validate", bad, "domain").Code.Should().NotBe(0);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A guest with an HMAT description (libvirt's formatdomain "Heterogeneous Memory Attribute Tables"): a
    /// memory-side cache on cell 0 and latencies/bandwidths between the cells.</summary>
    internal const string HmatDomain = """
        <domain type='test'>
          <name>lg-hmat</name>
          <memory unit='KiB'>4194304</memory>
          <vcpu placement='static'>4</vcpu>
          <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
          <cpu>
            <topology sockets='2' cores='2' threads='1'/>
            <numa>
              <cell id='0' cpus='0-1' memory='2097152' unit='KiB'>
                <cache level='1' associativity='direct' policy='writeback'>
                  <size value='10' unit='KiB'/>
                  <line value='8' unit='B'/>
                </cache>
              </cell>
              <cell id='1' cpus='2-3' memory='2097152' unit='KiB'/>
              <interconnects>
                <latency initiator='0' target='0' type='access' value='5'/>
                <latency initiator='0' target='0' cache='1' type='access' value='10'/>
                <bandwidth initiator='0' target='1' type='access' value='204800' unit='KiB'/>
              </interconnects>
            </numa>
          </cpu>
        </domain>
        """;

    [Fact]
    public void Cache_and_interconnects_stay_with_their_cells_and_libvirt_keeps_them()
    {
        var input = System.Text.Encoding.UTF8.GetBytes(HmatDomain);
        var output = Fixtures.Rewrite(input, new Dictionary<string, string> { ["guestnuma"] = "0-1#1G,2-3#3G" });
        var dir = Directory.CreateTempSubdirectory("largeguest-virsh-").FullName;
        try
        {
            var path = Path.Combine(dir, "hmat.xml");
            File.WriteAllBytes(path, output);
            DefineAndReadBack(path);
            var (code, dumped) = Exec("virsh", "-c", "test:///default", $"define --validate {path}; dumpxml lg-hmat; " +
                $"undefine lg-hmat");
            code.Should().Be(0, dumped);
            var numa = XDocument.Parse(dumped[dumped.IndexOf("<domain",
                StringComparison.Ordinal)..(dumped.IndexOf("</domain>", StringComparison.Ordinal) + 9)])
                .Root!.Element("cpu")!.Element("numa")!;
            var before = XDocument.Parse(HmatDomain).Root!.Element("cpu")!.Element("numa")!;
            var cells = numa.Elements("cell").ToList();
            cells.Select(c => (string?)c.Attribute("memory"))
                .Should().Equal(["1048576", "3145728"], "the new sizes were written");
            Canonical(cells[0].Element("cache"))
                .Should().Be(Canonical(before.Element("cell")!.Element("cache")), "cell 0 keeps its memory-side cache");
            cells[1].Element("cache").Should().BeNull("cell 1 had no cache");
            Canonical(numa.Element("interconnects"))
                .Should().Be(Canonical(before.Element("interconnects")), "the interconnects between the same cells " +
                "are kept");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>An element's name, attributes (sorted) and child elements, without whitespace or quoting
    /// style.</summary>
    private static string Canonical(XElement? e) => e is null ? "(none)" :
        $"<{e.Name.LocalName} " +
            $"{string.Join(" ", e.Attributes().OrderBy(a => a.Name.LocalName)
                .Select(a => $"{a.Name.LocalName}={a.Value}"))}>" +
        string.Concat(e.Elements().Select(Canonical)) + $"</{e.Name.LocalName}>";
}
