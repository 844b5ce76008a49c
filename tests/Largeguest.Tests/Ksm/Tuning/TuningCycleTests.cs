using Largeguest.Ksm;
using Largeguest.Ksm.Tuning;

namespace Largeguest.Tests.Ksm.Tuning;

/// <summary>The cycle as a pure function, from the seeds' examples (ksmtuned and Harvester's rewrite of it,
/// docs/design.md section 6).</summary>
public class TuningCycleTests
{
    private const long GiB = 1024 * 1024; // in KiB
    private static readonly TuningParameters Standard = TuningParameters.Standard;
    private static readonly TuningParameters High = TuningParameters.High;
    private static readonly TuningParameters Ksmtuned = TuningParameters.KsmtunedDefaults;

    [Theory]
    // Harvester's formula sleepMsec * 16 GiB / total, at least 10 (both modes use 20; ksmtuned's default 10).
    [InlineData(20, 8 * GiB, 40)]
    [InlineData(20, 16 * GiB, 20)]
    [InlineData(20, 1024 * GiB, 10)]   // 0.3125 -> floor 10
    [InlineData(10, 8 * GiB, 20)]
    [InlineData(10, 16 * GiB, 10)]
    [InlineData(10, 1024 * GiB, 10)]
    [InlineData(100, 1024 * GiB, 10)]  // 1.5625 -> 10
    [InlineData(1000, 1024 * GiB, 15)] // 15.625 -> 15 (integer division, as the shell's $[ ])
    [InlineData(20, 4 * GiB, 80)]
    [InlineData(0, 16 * GiB, 10)]
    public void Sleep_scales_with_memory_and_never_goes_below_10(long sleepMsec, long totalKiB, long expected) =>
        TuningCycle.SleepMillisecs(sleepMsec, totalKiB).Should().Be(expected);

    [Theory]
    [InlineData(16 * GiB, 20, 2048, 3355443)]   // 20% of 16 GiB
    [InlineData(8 * GiB, 20, 2048, 1677721)]
    [InlineData(8000, 20, 2048, 2048)]          // tiny host: 1600 KiB < KSM_THRES_CONST
    [InlineData(16 * GiB, 0, 2048, 2048)]       // thresCoef 0: only the constant is left
    [InlineData(16 * GiB, 100, 2048, 16 * GiB)] // thresCoef 100: all of memory
    public void Threshold_is_the_coefficient_share_with_the_constant_as_floor(long total, int coef, long thresConst,
        long expected) =>
        TuningCycle.Threshold(total, coef, thresConst).Should().Be(expected);

    public static TheoryData<string, TuningParameters, long, long> BoostCases => new()
    {
        // Harvester's ksmtuned_test.go: increase
        { "normal", new(400, 0, 1, 99999, 20), 100, 500 },
        { "over max pages", new(400, 0, 1, 500, 20), 200, 500 },
        { "equal max pages", new(400, 0, 1, 500, 20), 100, 500 },
        // modes
        { "standard never moves", Standard, 100, 100 },
        { "high boosts by 200", High, 100, 300 },
        { "high stops at 10000", High, 9900, 10000 },
        { "ksmtuned from the kernel's 0", Ksmtuned, 0, 300 },
        { "ksmtuned stops at 1250", Ksmtuned, 1200, 1250 },
        { "a value above max is pulled in", Standard, 5000, 100 },
    };

    [Theory, MemberData(nameof(BoostCases))]
    public void Boost_adds_and_clamps_to_max(string _, TuningParameters p, long pages, long expected) =>
        TuningCycle.Boost(pages, p).Should().Be(expected);

    public static TheoryData<string, TuningParameters, long, long> DecayCases => new()
    {
        // Harvester's ksmtuned_test.go: decrease
        { "normal", new(0, 200, 100, 99999, 20), 1000, 800 },
        { "over min pages", new(0, 200, 100, 99999, 20), 150, 100 },
        { "equal min pages", new(0, 50, 100, 99999, 20), 150, 100 },
        { "high decays by 50", High, 1000, 950 },
        { "high stops at 100", High, 120, 100 },
        { "ksmtuned -50 down to 64", Ksmtuned, 100, 64 },
        { "a value below min is raised", High, 0, 100 },
    };

    [Theory, MemberData(nameof(DecayCases))]
    public void Decay_subtracts_and_clamps_to_min(string _, TuningParameters p, long pages, long expected) =>
        TuningCycle.Decay(pages, p).Should().Be(expected);

    public static TheoryData<string, CycleInput, TuningParameters, int, KsmdAction, long> DecideCases => new()
    {
        // 16 GiB host, threshold 20% = 3.2 GiB.
        { "free below threshold: start and boost", new(16 * GiB, 2 * GiB, 10 * GiB, 100), High, 20, KsmdAction.Start,
            300 },
        { "committed + threshold above total, free plenty: start, decay", new(16 * GiB, 6 * GiB, 14 * GiB, 1000), High,
            20, KsmdAction.Start, 950 },
        { "no pressure: stop, decay", new(16 * GiB, 12 * GiB, 2 * GiB, 1000), High, 20, KsmdAction.Stop, 950 },
        { "no pressure in standard: stop at 100", new(16 * GiB, 12 * GiB, 2 * GiB, 100), Standard, 20, KsmdAction.Stop,
            100 },
        // Harvester's test plan: thresCoef makes ksmd run or not.
        { "thresCoef 100: always start", new(16 * GiB, 15 * GiB, 0, 100), High, 100, KsmdAction.Start, 300 },
        { "thresCoef 0: stop unless nearly out of memory", new(16 * GiB, 1 * GiB, 0, 300), High, 0, KsmdAction.Stop,
            250 },
        { "thresCoef 0, free under the 2 MiB constant: start", new(16 * GiB, 1024, 0, 300), High, 0, KsmdAction.Start,
            500 },
    };

    // ksmtuned's adjust(), customized mode, at each boundary. 10 GiB host, threshold 20% = 2 GiB; ksmtuned compares
    // with -lt / -gt: it stops only when committed + threshold < total and free > threshold, else it starts
    // (boost when free < threshold, else decay), and on stop leaves npages as it was.
    private const long T = 10 * GiB, Th = 2 * GiB;

    public static TheoryData<string, long, long, KsmdAction, long> KsmtunedBoundaries => new()
    {
        // free around the threshold, committed well below total - threshold
        { "free = thres - 1: start, boost", Th - 1, 0, KsmdAction.Start, 1250 } /* 1000 + boost 300,
            at most max 1250 */,
        { "free = thres: start (not > thres), decay", Th, 0, KsmdAction.Start, 1000 - 50 },
        { "free = thres + 1: stop, pages kept", Th + 1, 0, KsmdAction.Stop, 1000 },
        // committed + threshold around total, free plenty
        { "committed + thres = total - 1: stop, pages kept", 5 * GiB, T - Th - 1, KsmdAction.Stop, 1000 },
        { "committed + thres = total: start (not < total), decay", 5 * GiB, T - Th, KsmdAction.Start, 1000 - 50 },
        { "committed + thres = total + 1: start, decay", 5 * GiB, T - Th + 1, KsmdAction.Start, 1000 - 50 },
        // both at their boundary; both just inside
        { "free = thres and committed + thres = total: start, decay", Th, T - Th, KsmdAction.Start, 1000 - 50 },
        { "free = thres + 1 and committed + thres = total - 1: stop", Th + 1, T - Th - 1, KsmdAction.Stop, 1000 },
        { "free = thres - 1 and committed + thres = total + 1: start, boost", Th - 1, T - Th + 1, KsmdAction.Start,
            1250 } /* 1000 + boost 300, at most max 1250 */,
    };

    [Theory, MemberData(nameof(KsmtunedBoundaries))]
    public void Customized_mode_decides_as_ksmtuned_adjust_at_each_boundary(string name, long free, long committed,
        KsmdAction action, long pages)
    {
        var d = TuningCycle.Decide(new(T, free, committed, 1000), Ksmtuned, 20, 2048, TuningMode.Customized);
        d.ThresholdKiB.Should().Be(Th, name);
        d.Action.Should().Be(action, name);
        d.PagesToScan.Should().Be(pages, name);
    }

    [Fact]
    public void Customized_stop_keeps_pages_within_range_and_the_harvester_modes_decay()
    {
        TuningCycle.Decide(new(T, 8 * GiB, 0, 5000), Ksmtuned, 20, 2048, TuningMode.Customized).PagesToScan
            .Should().Be(1250);
        TuningCycle.Decide(new(T, 8 * GiB, 0, 0), Ksmtuned, 20, 2048, TuningMode.Customized).PagesToScan
            .Should().Be(64);
        TuningCycle.Decide(new(T, 8 * GiB, 0, 1000), High, 20, 2048, TuningMode.High).PagesToScan.Should().Be(950);
    }

    [Theory, MemberData(nameof(DecideCases))]
    public void Decide_starts_or_stops_ksmd_and_moves_pages(string name, CycleInput input, TuningParameters p,
        int coef, KsmdAction action, long pages)
    {
        var d = TuningCycle.Decide(input, p, coef, 2048, TuningMode.High);
        d.Action.Should().Be(action, name);
        d.PagesToScan.Should().Be(pages, name);
        KsmFiles.Text(d.Run).Should().Be(action == KsmdAction.Start ? "1" : "0");
        d.SleepMillisecs.Should().Be(TuningCycle.SleepMillisecs(p.SleepMsec, input.TotalKiB));
        d.ThresholdKiB.Should().Be(TuningCycle.Threshold(input.TotalKiB, coef, 2048));
        d.Why.Should().Contain(action == KsmdAction.Start ? "start ksmd" : "stop ksmd").And.Contain($"-> {pages}");
    }

    [Fact]
    public void Why_shows_the_numbers_it_compared()
    {
        var d = TuningCycle.Decide(new(16 * GiB, 2 * GiB, 10 * GiB, 100), High, 20, 2048, TuningMode.High);
        d.Why.Should().Be("free 2 GiB < threshold 3.2 GiB (20% of 16 GiB): start ksmd, pages_to_scan 100 -> 300 " +
            "(boost 200, max 10000), sleep_millisecs 20");
        var floor = TuningCycle.Decide(new(8000, 7000, 0, 100), High, 20, 2048, TuningMode.High);
        floor.Why.Should().Contain("threshold 2 MiB (20% of 7.8 MiB, raised to KSM_THRES_CONST)");
    }

    [Fact]
    public void Repeated_pressure_walks_pages_up_to_max_then_back_down_to_min()
    {
        var p = High;
        long pages = 100;
        var seen = new List<long>();
        for (var i = 0; i < 60; i++) { pages = TuningCycle.Decide(new(16 * GiB, GiB, 0, pages), p, 20, 2048,
            TuningMode.High).PagesToScan; seen.Add(pages); }
        seen.Should().BeInAscendingOrder().And.HaveElementAt(0, 300).And.EndWith(10000);
        seen.Count(v => v == 10000).Should().Be(11); // 100 + 49*200 = 9900, 50th cycle reaches 10000
        for (var i = 0; i < 300; i++) pages = TuningCycle.Decide(new(16 * GiB, 15 * GiB, 0, pages), p, 20, 2048,
            TuningMode.High).PagesToScan;
        pages.Should().Be(100);
    }

    [Fact]
    public void Decide_refuses_a_zero_total() =>
        FluentActions.Invoking(() => TuningCycle.Decide(new(0, 0, 0, 0), High, 20, 2048, TuningMode.High))
            .Should().Throw<ArgumentOutOfRangeException>();

    [Fact]
    public void The_daemon_logs_a_decision_when_its_kind_changes_not_when_its_numbers_move()
    {
        var state = new TunerState();
        TunerOutcome Cycle(long free, long committed, long pages, params string[] before)
        {
            var d = TuningCycle.Decide(new(16 * GiB, free, committed, pages), High, 20, 2048, TuningMode.High);
            return new(state, [.. before, d.Why], d);
        }
        var boost = Cycle(2 * GiB, 10 * GiB, 100);
        var boostMore = Cycle(1 * GiB, 10 * GiB, 300); // same kind, other numbers
        var gently = Cycle(6 * GiB, 14 * GiB, 1000);
        var stop = Cycle(12 * GiB, 2 * GiB, 1000, "swap 0 KiB free + ...: WARNING: not covered");
        var stopAgain = Cycle(12 * GiB, 3 * GiB, 950, "swap 0 KiB free + ...: WARNING: not covered");
        var paused = new TunerOutcome(state, ["tuning paused: 'largeguest ksm stop' at ..."]);

        TunerDaemon.News(boost, null).Should().Equal(boost.Decision!.Why);
        boostMore.Decision!.Why.Should().NotBe(boost.Decision.Why, "the numbers moved");
        TunerDaemon.News(boostMore, boost).Should().BeEmpty("same kind of decision: start ksmd, boosting");
        TunerDaemon.News(gently, boostMore).Should().Equal(gently.Decision!.Why);
        TunerDaemon.News(stop, gently).Should().Equal(stop.Notes);
        TunerDaemon.News(stopAgain, stop)
            .Should().Equal(["swap 0 KiB free + ...: WARNING: not covered"], "a warning is said every cycle, the " +
            "decision once");
        TunerDaemon.News(paused, stopAgain).Should().Equal(paused.Notes);
        TunerDaemon.News(paused, paused).Should().BeEmpty("a paused tuner says so once");
        TunerDaemon.News(stop, paused).Should().Equal(stop.Notes);
    }

    [Theory]
    [InlineData(0, "0 KiB")]
    [InlineData(1023, "1023 KiB")]
    [InlineData(1536, "1.5 MiB")]
    [InlineData(1073741824, "1 TiB")]
    public void Size_is_short_and_binary(long kib, string text) => TuningCycle.Size(kib).Should().Be(text);
}
