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
    [InlineData("iothread2#4,5,0#1,IOThread1#6,emulator#7", "0#1,emulator#7,iothread2#4-5,iothread1#6")]
    [InlineData(" iothread01 # 3 ", "iothread1#3")]
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
    [InlineData("0#1,iothread1#2,iothread1#3", "iothread 1 is pinned twice")]
    [InlineData("iothread0#1", "iothread ids start at 1")]
    [InlineData("iothread#1", "bad token 'iothread'")]
    [InlineData("iothread 1#1", "an I/O thread is iothreadN")]
    [InlineData("iothread1234567#1", "an I/O thread is iothreadN")]
    [InlineData("iothreadx#1", "an I/O thread is iothreadN")]
    [InlineData("\u0131othread1#1", "bad token '\u0131othread1'")] // a dotless i is not an i
    [InlineData("iothread\u0661#1", "an I/O thread is iothreadN")] // nor an Arabic-Indic digit a digit
    [InlineData("iothread1#", "in 'iothread1#': empty cpuset")]
    public void Rejects_with_the_bad_token_named(string text, string problem) =>
        FluentActions.Invoking(() => CpuTune.Parse(text)).Should().Throw<SyntaxException>()
            .Where(e => e.Problem.Contains(problem) && e.Expected == CpuTune.Syntax, $"the problem should mention " +
                $"\"{problem}\"");

    [Fact]
    public void Iothread_entries_pin_the_domains_io_threads_by_id()
    {
        var tune = CpuTune.Parse("0-1#0-1,iothread1#2-3,^3,iothread4#5");
        tune.IoThreads.Should().Equal(new IoThreadPin(1, CpuSet.Of([2])), new IoThreadPin(4, CpuSet.Of([5])));
        tune.Pins.Should().ContainSingle();
        tune.Emulator.Should().BeNull();
        CpuTune.Parse("iothread3#0").Pins.Should().BeEmpty("a value may pin only I/O threads");
    }

    [Theory]
    [InlineData("0#0_1#1", "write 0#0,1#1")]
    [InlineData("0#0-3_1#4,5_2#6", "write 0#0-3,1#4,5,2#6")]
    [InlineData(" 0#0 _ 1#1 ", "write 0#0,1#1")]
    public void The_engines_pinning_string_is_answered_with_the_comma_form(string text, string converted)
    {
        var e = FluentActions.Invoking(() => CpuTune.Parse(text)).Should().Throw<SyntaxException>().Which;
        e.Problem.Should()
            .Contain("entries are separated by ',' here, not by '_' as in the engine's CPU pinning string")
            .And.EndWith(converted);
        CpuTune.Parse(e.Problem[(e.Problem.LastIndexOf("write ", StringComparison.Ordinal) + 6)..]).ToEnginePinning()
            .Should().Be(CpuTune.Parse(text.Replace('_', ',')).ToEnginePinning(), "the shown form is the engine " +
                "string's pinning");
    }

    [Fact]
    public void An_engine_string_that_is_wrong_anyway_gets_the_hint_without_a_conversion()
    {
        var e = FluentActions.Invoking(() => CpuTune.Parse("0#0_0#1")).Should().Throw<SyntaxException>().Which;
        e.Problem.Should().Be("bad token '0#0_0#1': entries are separated by ',' here, not by '_' as in the engine's " +
            "CPU pinning string");
        FluentActions.Invoking(() => CpuTune.Parse("0#1_2")).Should().Throw<SyntaxException>().Which.Problem
            .Should().NotContain("engine");
    }
}
