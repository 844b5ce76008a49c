using System.Diagnostics;

namespace Largeguest.Tests.Support;

/// <summary>
/// The tests' one way to wait for something another process or thread does: check a condition until it holds or a
/// bound passes. Never a fixed sleep followed by an assertion (that is either slow or flaky).
/// </summary>
public static class Poll
{
    /// <summary>True as soon as <paramref name="condition"/> holds; false once <paramref name="bound"/> has passed
    /// (the condition is checked once more at the end, so a slow last step still counts).</summary>
    public static bool Until(Func<bool> condition, TimeSpan bound, TimeSpan? every = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > bound) return condition();
            Thread.Sleep(every ?? TimeSpan.FromMilliseconds(20));
        }
        return true;
    }

    /// <summary>Waits for <paramref name="condition"/>; after <paramref name="bound"/> throws a TimeoutException naming
    /// <paramref name="what"/> and, when given, what <paramref name="detail"/> says about the state at that
    /// moment.</summary>
    public static void Wait(Func<bool> condition, TimeSpan bound, string what, Func<string>? detail = null,
        TimeSpan? every = null)
    {
        if (!Until(condition, bound, every))
            throw new TimeoutException($"{what}: not within {bound.TotalSeconds:0.#} " +
                $"s{(detail is null ? "" : $" ({detail()})")}");
    }
}
