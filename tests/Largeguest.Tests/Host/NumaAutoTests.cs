using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Host;

namespace Largeguest.Tests.Host;

public class NumaAutoTests
{
    private static LargeguestProperties Props(params (string, string)[] values) =>
        LargeguestProperties.Parse(values.ToDictionary(v => v.Item1, v => v.Item2), NumaMode.Preferred);

    private const string Xml = """
        <domain type='kvm'>
          <memory unit='KiB'>4194304</memory>
          <vcpu cpuset='0-3'>4</vcpu>
          <numatune>
            <memory mode='interleave' nodeset='0-1'/>
            <memnode cellid='0' mode='strict' nodeset='0'/>
          </numatune>
        </domain>
        """;

    [Theory]
    [InlineData("auto")]
    [InlineData(" AUTO ")]
    public void Numatune_auto_parses_to_automatic_placement(string value)
    {
        var p = Props(("numatune", value));
        p.NumaAuto.Should().BeTrue();
        p.NumaTune.Should().BeNull();
        p.EditsXml.Should().BeTrue();
        p.Canonical().Should().Equal(("numatune", "auto"));
    }

    [Fact]
    public void Auto_placement_rewrites_vcpu_and_memory_and_drops_static_bindings()
    {
        var doc = DomainDocument.Parse(Xml);
        DomainRewriter.Apply(doc, Props(("numatune", "auto")), NumaMode.Preferred);
        doc.ToText().Should().Be("""
            <domain type='kvm'>
              <memory unit='KiB'>4194304</memory>
              <vcpu placement='auto'>4</vcpu>
              <numatune>
                <memory mode='strict' placement='auto'/>
              </numatune>
            </domain>
            """);
        var again = DomainDocument.Parse(doc.ToText());
        DomainRewriter.Apply(again, Props(("numatune", "auto")), NumaMode.Preferred);
        again.ToText().Should().Be(doc.ToText(), "running twice gives the same bytes");
    }

    [Fact]
    public void Pincpu_under_auto_placement_makes_it_static_and_a_numatune_binding_replaces_numads_memory_placement()
    {
        const string auto = """
            <domain type='kvm'>
              <vcpu placement='auto'>4</vcpu>
              <numatune>
                <memory mode='strict' placement='auto'/>
              </numatune>
            </domain>
            """;
        var warnings = new List<string>();
        var doc = DomainDocument.Parse(auto);
        DomainRewriter.Apply(doc, Props(("pincpu", "0-3"), ("numatune", "strict#1")), NumaMode.Preferred,
            warn: warnings.Add);
        doc.ToText().Should().Be("""
            <domain type='kvm'>
              <vcpu placement='static' cpuset='0-3'>4</vcpu>
              <numatune>
                <memory mode='strict' nodeset='1'/>
              </numatune>
            </domain>
            """);
        warnings.Should().ContainSingle().Which.Should().Contain("placement='static' so the pinning 0-3 is applied")
            .And.NotContain("drops");

        warnings.Clear();
        var plain = DomainDocument.Parse(auto.Replace("placement='auto'>4", ">4"));
        DomainRewriter.Apply(plain, Props(("pincpu", "0-3")), NumaMode.Preferred, warn: warnings.Add);
        warnings.Should().BeEmpty("a static vCPU placement honours the cpuset; numad's memory placement is then only " +
            "memory");
        plain.ToText().Should().Contain("<vcpu cpuset='0-3'>4</vcpu>").And.Contain("placement='auto'/>");
    }

    [Fact]
    public void Auto_placement_conflicts_with_pincpu_and_per_cell_bindings()
    {
        FluentActions.Invoking(() => Props(("numatune", "auto"), ("pincpu", "0-3"))).Should().Throw<PropertyException>()
            .Which.OneLine.Should().StartWith("pincpu: is set together with numatune=auto");
        FluentActions.Invoking(() => Props(("numatune", "auto"), ("guestnuma", "0-3#4G#1")))
            .Should().Throw<PropertyException>()
            .Which.OneLine.Should().StartWith("guestnuma: cell '0-3#4G#1' is bound to host nodes");
    }

    [Fact]
    public void Numad_must_be_an_executable_file()
    {
        var dir = Directory.CreateTempSubdirectory("lg-numad-").FullName;
        try
        {
            var numad = Path.Combine(dir, "numad");
            Numad.Check(numad)!.OneLine.Should().Be(
                $"numatune: auto placement needs numad, but {numad} does not exist (Topology:NumadPath) (expected: " +
                    $"{Numad.Expected})");
            File.WriteAllText(numad, "#!/bin/sh\n");
            Numad.Check(numad)!.Problem.Should().Contain("is not executable");
            File.SetUnixFileMode(numad, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            Numad.Check(numad).Should().BeNull();
        }
        finally { Directory.Delete(dir, true); }
    }
}
