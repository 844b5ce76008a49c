using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

public class LargeguestPropertiesTests
{
    private static LargeguestProperties Parse(params (string Name, string Value)[] values) =>
        LargeguestProperties.Parse(values.ToDictionary(v => v.Name, v => v.Value), NumaMode.Preferred);

    private static PropertyException ParseError(params (string Name, string Value)[] values)
    {
        var e = FluentActions.Invoking(() => Parse(values)).Should().Throw<PropertyException>().Which;
        e.OneLine.Should().Be($"{e.Property}: {e.Problem} (expected: {e.Expected})");
        e.OneLine.Should().NotContain("\n");
        return e;
    }

    [Fact]
    public void The_retired_pincpu_hook_value_is_a_cpuset()
    {
        var p = Parse(("pincpu", "1-4,^3"));
        p.PinCpu.Should().Be(CpuSet.Parse("1-2,4"));
        p.EditsXml.Should().BeTrue();
        p.Canonical().Should().Equal(("pincpu", "1-2,4"));
    }

    [Fact]
    public void The_retired_numa_hook_value_becomes_a_numatune()
    {
        var p = Parse(("numa", "strict:0"));
        p.NumaTune.Should().Be(new NumaTune(NumaMode.Strict, CpuSet.Of([0])));
        p.Canonical().Should().Equal(("numatune", "strict#0"));
    }

    [Fact]
    public void The_retired_numa_property_keeps_its_own_stricter_syntax()
    {
        var e = ParseError(("numa", "0"));
        e.Property.Should().Be("numa");
        e.Expected.Should().Be(NumaTune.LegacySyntax);
    }

    [Fact]
    public void Numatune_and_numa_together_is_a_conflict_naming_numa()
    {
        var e = ParseError(("numatune", "strict#0"), ("numa", "strict:0"));
        e.Property.Should().Be("numa");
        e.Problem.Should().Contain("numatune");
    }

    [Theory]
    [InlineData("cputune", "0#x", "in '0#x': bad token 'x'")]
    [InlineData("numatune", "fast#0", "bad mode 'fast'")]
    [InlineData("guestnuma", "0-3#1Q", "unknown unit 'Q'")]
    [InlineData("pincpu", "1-", "bad token '1-'")]
    [InlineData("ksm_merge_across_nodes", "yes", "bad value 'yes'")]
    public void A_bad_value_is_a_property_error_naming_property_and_token(string name, string value, string problem)
    {
        var e = ParseError((name, value));
        e.Property.Should().Be(name);
        e.Problem.Should().Contain(problem);
        e.OneLine.Should().StartWith($"{name}: ").And.Contain("(expected: ");
    }

    [Fact]
    public void Ksm_takes_0_or_1_and_edits_no_xml()
    {
        Parse(("ksm_merge_across_nodes", " 0 ")).KsmMergeAcrossNodes.Should().BeFalse();
        var p = Parse(("ksm_merge_across_nodes", "1"));
        p.KsmMergeAcrossNodes.Should().BeTrue();
        p.EditsXml.Should().BeFalse();
    }

    [Fact]
    public void Select_reads_only_our_properties_and_treats_empty_as_unset()
    {
        var env = new Dictionary<string, string>
        {
            ["cputune"] = "0#1", ["numatune"] = "", ["guestnuma"] = "   ", ["pincpu"] = "2",
            ["vmId"] = "x", ["sap_agent"] = "true", ["CPUTUNE"] = "0#0",
        };
        LargeguestProperties.Select(env.GetValueOrDefault).Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["cputune"] = "0#1", ["pincpu"] = "2",
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(false, "numatune", "", "guestnuma", "  ", "vmId", "x", "CPUTUNE", "0#0")]
    [InlineData(true, "numa", "strict:0")]
    [InlineData(true, "ksm_merge_across_nodes", "0", "numatune", "")]
    public void AnySet_answers_what_Select_would(bool expected, params string[] pairs)
    {
        var env = new Dictionary<string, string>();
        for (var i = 0; i < pairs.Length; i += 2) env[pairs[i]] = pairs[i + 1];
        LargeguestProperties.AnySet(env.GetValueOrDefault).Should().Be(expected);
        (LargeguestProperties.Select(env.GetValueOrDefault).Count > 0).Should().Be(expected);
    }

    [Fact]
    public void Canonical_lists_every_set_property_in_canonical_form()
    {
        var p = Parse(("cputune", "0#1,2"), ("numatune", "0"), ("guestnuma", "0#1G"), ("ksm_merge_across_nodes", "0"));
        p.Canonical().Should().Equal(("cputune", "0#1-2"), ("numatune", "preferred#0"), ("guestnuma", "0#1G"),
            ("ksm_merge_across_nodes", "0"));
    }
}
