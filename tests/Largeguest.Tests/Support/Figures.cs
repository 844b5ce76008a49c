using Xunit.Abstractions;

namespace Largeguest.Tests.Support;

/// <summary>
/// The reliability suite's measured figures: written to the test's output and to stdout as lines
/// starting with "FIGURE:", which scripts/run-tests.sh collects at the end of `make test`.
/// </summary>
public static class Figures
{
    public static void Report(ITestOutputHelper output, string figure)
    {
        var line = "FIGURE: " + figure;
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
