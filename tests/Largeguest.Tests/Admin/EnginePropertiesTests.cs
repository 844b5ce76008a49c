using Largeguest.Admin;
using Largeguest.Grammar;

namespace Largeguest.Tests.Admin;

public class EnginePropertiesTests
{
    [Fact]
    public void Splits_ours_from_other_hooks_properties()
    {
        var p = EngineProperties.Parse(" cputune=0#0-3 ; sap_agent=true;numatune=strict#0;;guestnuma= ");
        p.Ours.Should().Equal(new Dictionary<string, string> { ["cputune"] = "0#0-3", ["numatune"] = "strict#0" });
        p.Others.Should().Equal("sap_agent");
    }

    [Theory]
    [InlineData("cputune", "bad token 'cputune'")]
    [InlineData("=5", "bad token '=5'")]
    [InlineData("cputune=0#1;cputune=1#1", "is set twice")]
    public void Rejects_malformed_strings_naming_the_token(string text, string message) =>
        FluentActions.Invoking(() => EngineProperties.Parse(text)).Should().Throw<PropertyException>()
            .WithMessage($"*{message}*");

    [Fact]
    public void Explanation_lists_canonical_values_and_what_they_do()
    {
        var parsed = LargeguestProperties.Parse(
            EngineProperties.Parse("cputune=0-1#0-3,^1,emulator#4;guestnuma=0#1G#0,1#1G#1").Ours, NumaMode.Strict);
        Explanation.Lines(parsed, NumaMode.Strict).Should().Equal(
            "cputune=0-1#0,2-3,emulator#4",
            "  vCPUs 0-1 run on host CPUs 0,2-3",
            "  emulator threads run on host CPUs 4",
            "guestnuma=0#1G#0,1#1G#1",
            "  guest cell 0: vCPUs 0, 1 GiB, bound strict to host node(s) 0",
            "  guest cell 1: vCPUs 1, 1 GiB, bound strict to host node(s) 1",
            "  total guest memory in cells: 2097152 KiB (2 GiB) (must equal the domain's initial memory)");
    }
}
