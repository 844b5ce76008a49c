using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

public class MemorySizeTests
{
    [Theory]
    [InlineData("7", 7L)]
    [InlineData("7K", 7L)]
    [InlineData("7KiB", 7L)]
    [InlineData("3M", 3L * 1024)]
    [InlineData("3MiB", 3L * 1024)]
    [InlineData("10G", 10L * 1024 * 1024)]
    [InlineData("10GiB", 10L * 1024 * 1024)]
    [InlineData("2T", 2L * 1024 * 1024 * 1024)]
    [InlineData("2TiB", 2L * 1024 * 1024 * 1024)]
    [InlineData(" 512 M ", 512L * 1024)]
    [InlineData("1048576T", 1L << 50)]
    public void Parses_kib_and_binary_suffixes(string text, long kib) =>
        MemorySize.Parse(text).KiB.Should().Be(kib);

    [Theory]
    [InlineData(10L * 1024 * 1024, "10G")]
    [InlineData(1536L * 1024, "1536M")]
    [InlineData(7L, "7K")]
    [InlineData(1L << 30, "1T")]
    [InlineData(1025L, "1025K")]
    public void Prints_the_largest_exact_unit(long kib, string text) =>
        new MemorySize(kib).ToString().Should().Be(text);

    [Theory]
    [InlineData("", "bad size ''")]
    [InlineData("G", "bad size 'G'")]
    [InlineData("10X", "unknown unit 'X'")]
    [InlineData("10GB", "unknown unit 'GB'")]
    [InlineData("10 Gibibytes", "unknown unit 'Gibibytes'")]
    [InlineData("0", "must be above zero")]
    [InlineData("0G", "must be above zero")]
    [InlineData("-1", "bad size '-1'")]
    [InlineData("1.5G", "unknown unit '.5G'")]
    [InlineData("99999999999999999", "too large")]
    [InlineData("1048577T", "too large")]
    public void Rejects_with_the_bad_value_named(string text, string problem) =>
        FluentActions.Invoking(() => MemorySize.Parse(text)).Should().Throw<SyntaxException>()
            .Where(e => e.Problem.Contains(problem) && e.Expected == MemorySize.Syntax, $"the problem should mention " +
                $"\"{problem}\"");

    [Theory]
    [InlineData(16777216L, "16777216 KiB (16 GiB)")]
    [InlineData(1000L, "1000 KiB")]
    [InlineData(1536L, "1536 KiB (1.5 MiB)")]
    public void Describes_itself_with_the_exact_number(long kib, string text) =>
        new MemorySize(kib).Describe().Should().Be(text);
}
