using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

public class CpuSetTests
{
    [Theory]
    [InlineData("0-7,^3", "0-2,4-7")]
    [InlineData(" 3 , 1,2 ", "1-3")]
    [InlineData("0,2,4-5,^5", "0,2,4")]
    [InlineData("7", "7")]
    [InlineData("0-3,^0,^1,^2", "3")]
    public void Parses_to_canonical_form(string text, string canonical) =>
        CpuSet.Parse(text).ToString().Should().Be(canonical);

    [Theory]
    [InlineData("", "empty cpuset")]
    [InlineData("1,,2", "empty entry")]
    [InlineData("a", "bad token 'a'")]
    [InlineData("3-1", "bad token '3-1'")]
    [InlineData("^1-2", "bad token '^1-2'")]
    [InlineData("0,^0", "selects no id")]
    [InlineData("99999", "above 16383")]
    [InlineData("1-", "bad token '1-'")]
    public void Rejects_with_the_bad_token_named(string text, string message) =>
        FluentActions.Invoking(() => CpuSet.Parse(text)).Should().Throw<SyntaxException>().WithMessage($"*{message}*");
}
