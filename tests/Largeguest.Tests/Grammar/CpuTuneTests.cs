using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

public class CpuTuneTests
{
    [Fact]
    public void Parses_the_design_example_with_a_continuation_token_and_the_emulator()
    {
        var tune = CpuTune.Parse("0#0-3,^2,1#4-7,emulator#8");
        tune.Pins.Should().Equal(new VcpuPin(0, 0, CpuSet.Parse("0-1,3")), new VcpuPin(1, 1, CpuSet.Range(4, 7)));
        tune.Emulator.Should().Be(CpuSet.Of([8]));
        tune.ToString().Should().Be("0#0-1,3,1#4-7,emulator#8");
    }

    [Fact]
    public void A_vcpu_range_pins_every_vcpu_in_it()
    {
        var tune = CpuTune.Parse("0-3#0-7,4#8");
        tune.Pins.Should().HaveCount(2);
        tune.PinnedVcpus.Select(p => p.Vcpu).Should().Equal(0, 1, 2, 3, 4);
        tune.PinnedVcpus.Where(p => p.Vcpu < 4).Should().OnlyContain(p => p.CpuSet.ToString() == "0-7");
        tune.ToString().Should().Be("0-3#0-7,4#8");
    }

    [Theory]
    [InlineData("0#1,2,3", "0#1-3")]
    [InlineData("0#1,2,3,1#5,^5,6", "0#1-3,1#6")]
    [InlineData(" 0 # 1 , 2 , emulator # 3 ", "0#1-2,emulator#3")]
    [InlineData("EMULATOR#0-1,0#2", "0#2,emulator#0-1")]
    [InlineData("emulator#4", "emulator#4")]
    [InlineData("2#0,0#1", "2#0,0#1")]
    [InlineData("0-1#0-3,^2,emulator#8-9", "0-1#0-1,3,emulator#8-9")]
    public void Continuation_tokens_whitespace_and_case_give_the_canonical_form(string text, string canonical) =>
        CpuTune.Parse(text).ToString().Should().Be(canonical);

    [Theory]
    [InlineData("1,0#1", "bad token '1': the first entry has no '#'")]
    [InlineData("0#1,0#2", "vCPU 0 is pinned twice")]
    [InlineData("0-2#1,2#3", "vCPU 2 is pinned twice")]
    [InlineData("emulator#1,emulator#2", "emulator is pinned twice")]
    [InlineData("#1", "no vCPU before '#'")]
    [InlineData("0#", "in '0#': empty cpuset")]
    [InlineData("a#1", "bad token 'a'")]
    [InlineData("3-1#0", "range ends before it starts")]
    [InlineData("0#1,,2", "empty entry")]
    [InlineData("0#99999", "above 16383")]
    [InlineData("^0#1", "bad token '^0'")]
    [InlineData("0#1#2", "bad token '1#2'")]
    [InlineData("0#1,^1", "selects no id")]
    [InlineData("emu#1", "bad token 'emu'")]
    public void Rejects_with_the_bad_token_named(string text, string problem) =>
        FluentActions.Invoking(() => CpuTune.Parse(text)).Should().Throw<SyntaxException>()
            .Where(e => e.Problem.Contains(problem) && e.Expected == CpuTune.Syntax, $"the problem should mention \"{problem}\"");
}
