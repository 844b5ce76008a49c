using System.Text.RegularExpressions;

namespace Largeguest.Tests.Support;

/// <summary>The hook contract's promises about one run, as assertions.</summary>
public static class HookAssertions
{
    /// <summary>Exit 2, exactly one line on stderr in the contract's format, nothing on stdout, the file
    /// untouched.</summary>
    public static void ShouldBeOneLineError(HookRun run, byte[] input, string property, string problem)
    {
        run.ExitCodes.Should().Equal([2], run.ToString());
        run.Stdout.Should().BeEmpty();
        run.Stderr.Should()
            .MatchRegex($"^largeguest: error: {Regex.Escape(property)}: [^\n]+ \\(expected: [^\n]+\\)\n$");
        run.Stderr.Should().Contain(problem);
        ShouldBeUntouched(run, input);
    }

    public static void ShouldBeUntouched(HookRun run, byte[] input)
    {
        run.Xml.Should().Equal(input, "the XML file stays byte-identical");
        run.FileUntouched.Should().BeTrue($"the file is not opened for writing ({run.Before} -> {run.After})");
        run.LeftoverFiles.Should().BeEmpty("no temp file is left behind");
        run.Stderr.Should().NotContain("   at ").And.NotContain("Unhandled exception");
    }
}
