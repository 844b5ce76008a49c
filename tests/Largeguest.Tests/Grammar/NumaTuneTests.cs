using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

public class NumaTuneTests
{
    [Fact]
    public void Each_mode_has_its_libvirt_spelling_in_enum_order()
    {
        NumaModes.Names.Should().Equal(Enum.GetNames<NumaMode>().Select(n => n.ToLowerInvariant()));
        Enum.GetValues<NumaMode>().Select(m => (int)m).Should().Equal(Enumerable.Range(0, NumaModes.Names.Length));
        foreach (var mode in Enum.GetValues<NumaMode>())
        {
            NumaModes.TryParse($" {mode.Name().ToUpperInvariant()} ", out var back).Should().BeTrue();
            back.Should().Be(mode);
        }
        NumaModes.TryParse("bind", out _).Should().BeFalse();
    }

    [Theory]
    [InlineData("interleave#0-1", NumaMode.Interleave, "0-1")]
    [InlineData("strict:0", NumaMode.Strict, "0")]
    [InlineData("preferred#1", NumaMode.Preferred, "1")]
    [InlineData("restrictive#0,2", NumaMode.Restrictive, "0,2")]
    [InlineData(" Strict # 0 , 1 ", NumaMode.Strict, "0-1")]
    [InlineData("INTERLEAVE:0-3,^1", NumaMode.Interleave, "0,2-3")]
    public void Parses_the_mode_spellings(string text, NumaMode mode, string nodes)
    {
        var tune = NumaTune.Parse(text, NumaMode.Preferred);
        tune.Should().Be(new NumaTune(mode, CpuSet.Parse(nodes)));
        tune.ToString().Should().Be($"{mode.Name()}#{nodes}");
    }

    [Theory]
    [InlineData(NumaMode.Preferred)]
    [InlineData(NumaMode.Strict)]
    [InlineData(NumaMode.Interleave)]
    public void A_bare_nodeset_takes_the_configured_default_mode(NumaMode defaultMode) =>
        NumaTune.Parse(" 0-1 ", defaultMode).Should().Be(new NumaTune(defaultMode, CpuSet.Range(0, 1)));

    [Theory]
    [InlineData("bogus#0", "bad mode 'bogus'")]
    [InlineData("strict#", "bad nodeset: empty cpuset")]
    [InlineData("strict#0,^0", "bad nodeset: cpuset '0,^0' selects no id")]
    [InlineData("#0", "bad mode ''")]
    [InlineData("", "bad nodeset: empty cpuset")]
    [InlineData("strict#0#1", "bad nodeset: bad token '0#1'")]
    [InlineData("0-x", "bad nodeset: bad token '0-x'")]
    public void Rejects_with_the_bad_token_named(string text, string problem) =>
        FluentActions.Invoking(() => NumaTune.Parse(text, NumaMode.Preferred)).Should().Throw<SyntaxException>()
            .Where(e => e.Problem == problem && e.Expected == NumaTune.Syntax, $"the problem should be \"{problem}\"");

    [Theory]
    [InlineData("strict:0", NumaMode.Strict, "0")]
    [InlineData("interleave: 0-1", NumaMode.Interleave, "0-1")]
    public void The_retired_numa_hook_form_needs_mode_and_colon(string text, NumaMode mode, string nodes) =>
        NumaTune.ParseLegacy(text).Should().Be(new NumaTune(mode, CpuSet.Parse(nodes)));

    [Theory]
    [InlineData("0", "no ':' between mode and nodeset")]
    [InlineData("strict#0", "no ':' between mode and nodeset")]
    [InlineData("fast:0", "bad mode 'fast'")]
    public void The_retired_form_rejects_what_the_numa_hook_rejected(string text, string problem) =>
        FluentActions.Invoking(() => NumaTune.ParseLegacy(text)).Should().Throw<SyntaxException>()
            .Where(e => e.Problem.Contains(problem) && e.Expected == NumaTune.LegacySyntax);
}
