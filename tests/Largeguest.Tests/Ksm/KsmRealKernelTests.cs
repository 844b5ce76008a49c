using System.Diagnostics;
using Largeguest.Ksm;
using Xunit.Abstractions;

namespace Largeguest.Tests.Ksm;

/// <summary>
/// The runner on the real kernel (root, /sys/kernel/mm/ksm): real merged pages, real EBUSY, a real synchronous
/// unmerge and its real interruption. Every test starts from a baseline and the fixture restores the host.
/// </summary>
[Collection(RealKsmCollection.Name)]
public sealed class KsmRealKernelTests : IDisposable
{
    private static readonly VmId A = VmId.Parse("aaaaaaaa-1111-4000-8000-000000000001");
    private static readonly VmId B = VmId.Parse("bbbbbbbb-1111-4000-8000-000000000002");
    private readonly RealKsm _ksm;
    private readonly ITestOutputHelper _out;
    private readonly string _state = Directory.CreateTempSubdirectory("largeguest-ksm-real-").FullName;

    public KsmRealKernelTests(RealKsm ksm, ITestOutputHelper output)
    {
        (_ksm, _out) = (ksm, output);
        RealKsm.Baseline(mergeAcrossNodes: true, run: 0);
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private static KsmPolicy Policy(int reserve = 10, TimeSpan? unmerge = null) =>
        new(reserve, null, TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(60), unmerge ?? TimeSpan.FromSeconds(60));

    private KsmOutcome Reconcile(VmId vm, bool value, KsmPolicy? policy = null)
    {
        new KsmRequests(_state).Register(new KsmRequest(vm, value, DateTimeOffset.UtcNow));
        return new KsmReconciler(_ksm.Sysfs, _state, policy ?? Policy(), AssumeAlive.Instance).Reconcile();
    }

    private bool JournalExists => File.Exists(Path.Combine(_state, KsmStateDirectory.JournalFileName));

    [Fact]
    public void The_kernel_refuses_a_direct_write_while_pages_are_shared()
    {
        using var pages = new MergeablePages(64);
        RealKsm.MergeNow(pages, runAfter: 0);
        FluentActions.Invoking(() => _ksm.Sysfs.Write("merge_across_nodes", "0")).Should().Throw<KsmWriteException>()
            .Which.Busy.Should().BeTrue("this is the kernel rule the whole transition exists for");
    }

    [Fact]
    public void Switches_to_0_and_back_by_unmerging_256_MiB_with_ksmd_stopped()
    {
        using var pages = new MergeablePages(256);
        RealKsm.MergeNow(pages, runAfter: 0);
        var sharing = RealKsm.Number("pages_sharing");
        var clock = Stopwatch.StartNew();
        var outcome = Reconcile(A, false);
        _out.WriteLine($"256 MiB merged ({sharing} pages_sharing): 1 -> 0 took {clock.ElapsedMilliseconds} ms; " +
            $"{string.Join(" | ", outcome.Notes)}");

        (RealKsm.Read("merge_across_nodes"), RealKsm.Number("pages_shared"), RealKsm.Read("run"))
            .Should().Be(("0", 0L, "0"));
        outcome.Notes.Should().ContainSingle().Which.Should().Contain("merge_across_nodes 1 -> 0").And
            .Contain("unmerged").And.Contain("run restored to 0");
        JournalExists.Should().BeFalse();

        RealKsm.MergeNow(pages, runAfter: 0); // merged again, now within the node
        RealKsm.Number("pages_shared").Should().BeGreaterThan(0);
        clock.Restart();
        outcome = Reconcile(A, true);
        _out.WriteLine($"0 -> 1 took {clock.ElapsedMilliseconds} ms; {string.Join(" | ", outcome.Notes)}");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Number("pages_shared"), RealKsm.Read("run"))
            .Should().Be(("1", 0L, "0"));
    }

    [Fact]
    public void Restores_run_1_after_unmerging_while_ksmd_runs()
    {
        using var pages = new MergeablePages(128);
        RealKsm.MergeNow(pages, runAfter: 1);
        var outcome = Reconcile(A, false);
        outcome.Notes.Should().ContainSingle().Which.Should().Contain("unmerged").And.Contain("run restored to 1");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run")).Should().Be(("0", "1"));
    }

    [Fact]
    public void Nothing_shared_means_a_direct_write()
    {
        var outcome = Reconcile(A, false);
        outcome.Notes.Should().ContainSingle().Which.Should().Contain("nothing was shared");
        RealKsm.Read("merge_across_nodes").Should().Be("0");
    }

    [Fact]
    public void An_unmerge_over_its_budget_is_interrupted_leaving_the_value_and_restoring_run()
    {
        using var pages = new MergeablePages(1024);
        RealKsm.MergeNow(pages, runAfter: 0);
        var clock = Stopwatch.StartNew();
        FluentActions.Invoking(() => Reconcile(A, false, Policy(unmerge: TimeSpan.FromMilliseconds(30))))
            .Should().Throw<KsmException>()
            .WithMessage("*did not finish within 30 ms (Ksm:UnmergeTimeoutSeconds) and was interrupted; " +
                "merge_across_nodes left at 1, run restored to 0");
        _out.WriteLine($"interrupted reconcile returned after {clock.ElapsedMilliseconds} ms; pages_shared left " +
            $"{RealKsm.Number("pages_shared")}");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run")).Should().Be(("1", "0"));
        RealKsm.Number("pages_shared").Should().BeGreaterThan(0, "the unmerge was stopped part-way, not completed");
        JournalExists.Should().BeFalse();
    }

    [Fact]
    public void The_memory_check_refuses_and_touches_nothing()
    {
        using var pages = new MergeablePages(64);
        RealKsm.MergeNow(pages, runAfter: 0);
        var shared = RealKsm.Number("pages_shared");
        // The configuration caps the reserve at 90%; the runner itself takes any policy, so 100% makes any unmerge too
        // big.
        FluentActions.Invoking(() => Reconcile(A, false, Policy(reserve: 100))).Should().Throw<KsmException>()
            .WithMessage("merge_across_nodes not changed to 0*MiB may be used (MemAvailable * MiB less " +
                "Ksm:MemoryReservePercent 100%)");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared"))
            .Should().Be(("1", "0", shared));
        JournalExists.Should().BeFalse();
    }

    public static TheoryData<string, int, bool, int, bool> PlantedJournals => new()
    {
        // name, run left, merge_across_nodes left, journal's previous run, merged pages left
        { "died after the unmerge, before the write", 2, true, 1, false },
        { "died after the write, before run was restored", 2, false, 0, false },
        { "died inside the unmerge (the kernel stopped it: run 0)", 0, true, 1, true },
    };

    [Theory]
    [MemberData(nameof(PlantedJournals))]
    public void A_planted_journal_is_recovered_before_anything_else(string name, int runLeft, bool mergeLeft,
        int previousRun, bool pagesLeft)
    {
        _ = name;
        using var pages = new MergeablePages(64);
        if (pagesLeft) RealKsm.MergeNow(pages, runAfter: 0);
        else RealKsm.Baseline(mergeLeft, runLeft);
        if (pagesLeft) RealKsm.Write("run", $"{runLeft}");
        new KsmJournalFile(_state).Write((KsmRun)previousRun, false, DateTimeOffset.UtcNow);

        var outcome = Reconcile(A, false);
        outcome.Warnings.Should().ContainSingle().Which.Should().Contain("a KSM transition died part-way").And
            .Contain($"run restored to {previousRun}");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared"))
            .Should().Be(("0", $"{previousRun}", 0L));
        JournalExists.Should().BeFalse();
    }

    [Fact]
    public async Task Concurrent_reconcilers_reach_one_consistent_state_and_never_leave_run_2()
    {
        using var pages = new MergeablePages(256);
        RealKsm.MergeNow(pages, runAfter: 1);
        var observedRun2 = false;
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested) observedRun2 |= RealKsm.Read("run") == "2";
        });
        var vms = Enumerable.Range(0, 8).Select(i => VmId.Parse($"cccccccc-1111-4000-8000-{i:x12}")).ToList();
        var outcomes = vms.AsParallel().WithDegreeOfParallelism(8)
            .Select(vm => Reconcile(vm, vm != vms[0])).ToList(); // one asks 0, seven ask 1
        stop.Cancel();
        await watcher;
        _out.WriteLine($"run=2 seen while the transition ran: {observedRun2}; " +
            $"{string.Join(" | ", outcomes.SelectMany(o => o.Notes).Where(n => n.Contains("->")))}");
        outcomes.Count(o => o.Notes.Any(n => n.Contains("unmerged")))
            .Should().Be(1, "one transition, the others found the value right");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run")).Should().Be(("0", "1"));
        JournalExists.Should().BeFalse();
        LockProbe.FreesSoon(Path.Combine(_state, KsmStateDirectory.LockFileName)).Should().BeTrue();
    }
    /// <summary>
    /// Rounds of six VMs registering mixed 0/1 requests and reconciling at once on the real kernel (nothing shared, so
    /// the direct write whose window a lock-free look could race): every round must end at the registry's decision
    /// (0 if any VM asked 0), never at a 1 written over a 0 registered meanwhile.
    /// </summary>
    [Fact]
    public void Concurrent_mixed_requests_always_end_at_the_registry_decision()
    {
        const int Rounds = 40, Vms = 6;
        var random = new Random(20261203);
        var ones = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var dir = Path.Combine(_state, $"round{round}");
            var asks = Enumerable.Range(0, Vms).Select(_ => random.Next(3) != 0).ToList(); // two in three ask 1
            if (round % 5 == 0) asks = [.. asks.Select(_ => true)];                       // some rounds without a 0
            var start = round % 2 == 0;
            RealKsm.Baseline(mergeAcrossNodes: start, run: 0);
            using var go = new Barrier(Vms);
            var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
            var threads = Enumerable.Range(0, Vms).Select(i => new Thread(() =>
            {
                var vm = VmId.Parse($"dddddddd-1111-4000-8000-{round:x6}{i:x6}");
                go.SignalAndWait();
                try
                {
                    new KsmRequests(dir).Register(new KsmRequest(vm, asks[i], DateTimeOffset.UtcNow));
                    new KsmReconciler(_ksm.Sysfs, dir, Policy(), AssumeAlive.Instance).Reconcile();
                }
                catch (Exception e) { failures.Add(e.Message); }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            failures.Should().BeEmpty();
            var expected = asks.All(a => a) ? "1" : "0";
            if (expected == "1") ones++;
            (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run")).Should().Be((expected, "0"),
                $"round {round}: host started at {(start ? 1 : 0)}, the VMs asked " +
                    $"{string.Join("", asks.Select(a => a ? 1 : 0))}");
            File.Exists(Path.Combine(dir, KsmStateDirectory.JournalFileName)).Should().BeFalse();
        }
        _out.WriteLine($"{Rounds} rounds of {Vms} concurrent reconciles: {ones} ended at 1, {Rounds - ones} at 0, " +
            $"each the registry's decision");
    }
}
