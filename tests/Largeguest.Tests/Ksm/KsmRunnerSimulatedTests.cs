using Largeguest.Ksm;

namespace Largeguest.Tests.Ksm;

/// <summary>The runner against <see cref="SimulatedKsm"/>: failures and crashes the real kernel cannot produce on
/// demand.</summary>
public sealed class KsmRunnerSimulatedTests : IDisposable
{
    private static readonly VmId A = VmId.Parse("aaaaaaaa-0000-4000-8000-000000000001");
    private static readonly VmId B = VmId.Parse("bbbbbbbb-0000-4000-8000-000000000002");
    private readonly string _state = Directory.CreateTempSubdirectory("largeguest-ksm-sim-").FullName;
    private readonly SimulatedKsm _kernel = new();

    private readonly Xunit.Abstractions.ITestOutputHelper _out;

    public KsmRunnerSimulatedTests(Xunit.Abstractions.ITestOutputHelper output) => _out = output;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private static KsmPolicy Policy(int reserve = 10, double unmergeSeconds = 60, double lockSeconds = 5) =>
        new(reserve, null, TimeSpan.FromSeconds(300), TimeSpan.FromSeconds(lockSeconds),
            TimeSpan.FromSeconds(unmergeSeconds));

    private KsmReconciler Reconciler(KsmPolicy? policy = null, IVmLiveness? liveness = null) =>
        new(_kernel, _state, policy ?? Policy(), liveness ?? AssumeAlive.Instance);

    private void Ask(VmId vm, bool value, DateTimeOffset? at = null) =>
        new KsmRequests(_state).Register(new KsmRequest(vm, value, at ?? DateTimeOffset.UtcNow));

    private string JournalPath => Path.Combine(_state, KsmStateDirectory.JournalFileName);

    [Fact]
    public void Nothing_shared_writes_the_value_directly()
    {
        Ask(A, false);
        var outcome = Reconciler().Reconcile();
        _kernel.Log.Should().Equal("write merge_across_nodes=0");
        (outcome.Changed, outcome.Desired).Should().Be((true, false));
        outcome.Notes.Should().ContainSingle().Which.Should().Contain("merge_across_nodes 1 -> 0").And
            .Contain("nothing was shared");
    }

    [Fact]
    public void Shared_pages_are_unmerged_then_the_value_written_and_run_restored()
    {
        _kernel.Shares(256, 65280);
        Ask(A, false);
        var before = _kernel.MemAvailable;
        var outcome = Reconciler().Reconcile();
        _kernel.Log.Should().Equal("unmerge", "write merge_across_nodes=0", "write run=1");
        (_kernel.Merge, _kernel.Run, _kernel.Shared).Should().Be((false, 1, 0L));
        (before - _kernel.MemAvailable).Should().Be(65280 * 4096, "an unmerge costs pages_sharing fresh pages");
        File.Exists(JournalPath).Should().BeFalse();
        outcome.Notes.Single().Should().Contain("unmerged 65280 pages (255 MiB)").And.Contain("run restored to 1");
    }

    [Fact]
    public void EBUSY_on_the_direct_write_falls_back_to_the_unmerge_path()
    {
        _kernel.LingeringStableNodes = 1;
        Ask(A, false);
        Reconciler().Reconcile().Changed.Should().BeTrue();
        _kernel.Log.Should().Equal("write merge_across_nodes=0 EBUSY", "unmerge", "write merge_across_nodes=0",
            "write run=1");
        _kernel.Merge.Should().BeFalse();
    }

    [Fact]
    public void EBUSY_right_after_an_unmerge_is_retried()
    {
        _kernel.Shares(1, 10);
        _kernel.Before = step => { if (step == "unmerge") _kernel.LingeringStableNodes = 2; };
        Ask(A, false);
        Reconciler().Reconcile();
        _kernel.Log.Should().Equal("unmerge", "write merge_across_nodes=0 EBUSY", "write merge_across_nodes=0 EBUSY",
            "write merge_across_nodes=0", "write run=1");
    }

    [Fact]
    public void Not_enough_memory_refuses_and_touches_nothing()
    {
        _kernel.Shares(256, 65280);
        _kernel.MemAvailable = 65280L * 4096; // all of it, but the 10% reserve is not
        Ask(A, false);
        FluentActions.Invoking(() => Reconciler().Reconcile()).Should().Throw<KsmException>()
            .WithMessage("merge_across_nodes not changed to 0 (asked by VM*): unmerging 65280 pages needs 255 MiB " +
                "but only 229 MiB may be used*");
        _kernel.Log.Should().BeEmpty();
        File.Exists(JournalPath).Should().BeFalse();
    }

    [Fact]
    public void An_unmerge_over_budget_is_interrupted_and_run_restored()
    {
        _kernel.Shares(256, 65280);
        _kernel.UnmergeTakes = TimeSpan.FromSeconds(5);
        Ask(A, false);
        FluentActions.Invoking(() => Reconciler(Policy(unmergeSeconds: 1)).Reconcile()).Should().Throw<KsmException>()
            .WithMessage("*did not finish within 1 s (Ksm:UnmergeTimeoutSeconds) and was interrupted; " +
                "merge_across_nodes left at 1, run restored to 1");
        (_kernel.Merge, _kernel.Run).Should().Be((true, 1));
        _kernel.Log.Should().Equal("unmerge", "write run=1");
        File.Exists(JournalPath).Should().BeFalse();
    }

    [Fact]
    public void An_unmerge_the_kernel_fails_with_ENOMEM_restores_run()
    {
        _kernel.Shares(256, 65280);
        // memory vanished after the check
        _kernel.Before = step => { if (step == "unmerge") _kernel.MemAvailable = 4096; };
        Ask(A, false);
        FluentActions.Invoking(() => Reconciler().Reconcile()).Should().Throw<KsmException>()
            .WithMessage("*unmerging 65280 pages (255 MiB) failed: Cannot allocate memory; merge_across_nodes left " +
                "at 1, run restored to 1");
        (_kernel.Merge, _kernel.Run).Should().Be((true, 1));
        File.Exists(JournalPath).Should().BeFalse();
    }

    [Fact]
    public void Run_left_at_2_by_someone_is_reset_so_the_unmerge_really_happens()
    {
        _kernel.Run = 2;
        _kernel.Shares(5, 50);
        Ask(A, false);
        Reconciler().Reconcile();
        _kernel.Log.Should().Equal("write run=0", "unmerge", "write merge_across_nodes=0", "write run=0");
        (_kernel.Shared, _kernel.Merge, _kernel.Run).Should().Be((0L, false, 0));
    }

    [Theory]
    [InlineData("unmerge")]
    [InlineData("write merge_across_nodes=0")]
    [InlineData("write run=1")]
    public void A_crash_inside_a_transition_is_recovered_by_the_next_reconcile(string step)
    {
        _kernel.Shares(256, 65280);
        Ask(A, false);
        _kernel.Before = s => { if (s == step) throw new SimulatedCrash(s); };
        FluentActions.Invoking(() => Reconciler().Reconcile()).Should().Throw<SimulatedCrash>();
        File.Exists(JournalPath).Should().BeTrue("the journal outlives the crash");
        LockProbe.FreesSoon(Path.Combine(_state, KsmStateDirectory.LockFileName))
            .Should().BeTrue("a dead holder's flock is gone");

        _kernel.Before = null;
        var outcome = Reconciler().Reconcile();
        outcome.Warnings.Should().ContainSingle().Which.Should().Contain("a KSM transition died part-way").And
            .Contain("run restored to 1");
        (_kernel.Merge, _kernel.Run, _kernel.Shared).Should().Be((false, 1, 0L));
        File.Exists(JournalPath).Should().BeFalse();
    }

    [Fact]
    public void A_crash_after_the_unmerge_is_finished_without_a_second_unmerge()
    {
        _kernel.Shares(256, 65280);
        Ask(A, false);
        _kernel.Before = s => { if (s == "write merge_across_nodes=0") throw new SimulatedCrash(s); };
        FluentActions.Invoking(() => Reconciler().Reconcile()).Should().Throw<SimulatedCrash>();
        _kernel.Run.Should().Be(2, "the crash left the host in unmerge mode");
        _kernel.Before = null;
        _kernel.Log.Clear();
        Reconciler().Reconcile();
        _kernel.Log.Should().Equal("write merge_across_nodes=0", "write run=1");
    }

    [Fact]
    public void A_journal_is_recovered_even_when_the_value_already_matches()
    {
        _kernel.Merge = false;
        _kernel.Run = 2;
        new KsmJournalFile(_state).Write(KsmRun.Merge, false, DateTimeOffset.UtcNow);
        Ask(A, false);
        Reconciler().Reconcile();
        _kernel.Run.Should().Be(1);
        File.Exists(JournalPath).Should().BeFalse();
    }

    [Fact]
    public void When_run_cannot_be_restored_the_journal_is_kept_for_recovery()
    {
        _kernel.Shares(1, 10);
        Ask(A, false);
        _kernel.Before = s => { if (s == "write run=1") throw new KsmWriteException("simulated/run", "1", 5); };
        FluentActions.Invoking(() => Reconciler().Reconcile()).Should().Throw<KsmException>()
            .WithMessage("*restoring run=1 failed*the journal*is kept so the next reconcile recovers");
        File.Exists(JournalPath).Should().BeTrue();
        _kernel.Before = null;
        Reconciler().Reconcile();
        (_kernel.Run, _kernel.Merge).Should().Be((1, false));
        File.Exists(JournalPath).Should().BeFalse();
    }

    [Fact]
    public void A_held_lock_times_out_without_touching_the_host()
    {
        Ask(A, false);
        using var other = HostLock.Acquire(Path.Combine(_state, KsmStateDirectory.LockFileName), TimeSpan.Zero);
        FluentActions.Invoking(() => Reconciler(Policy(lockSeconds: 0)).Reconcile()).Should().Throw<KsmException>()
            .WithMessage("*another KSM transition held the lock*(Ksm:LockTimeoutSeconds)");
        _kernel.Log.Should().BeEmpty();
    }

    [Fact]
    public void The_value_already_right_takes_no_lock()
    {
        _kernel.Merge = false;
        Ask(A, false);
        var outcome = Reconciler().Reconcile();
        outcome.Changed.Should().BeFalse();
        outcome.Notes.Should().BeEmpty();
        File.Exists(Path.Combine(_state, KsmStateDirectory.LockFileName))
            .Should().BeFalse("the lock-free look settled it");
    }

    /// <summary>
    /// VM Z asks 1 and holds the lock, its decision made on a registry holding only Z; at that moment VM V registers 0
    /// and reconciles. The host still reads 0 (what V wants), but Z is about to write 1: V must wait for Z and decide
    /// again, never return "nothing to do". "direct": nothing shared, paused before Z's write; "unmerge": pages shared,
    /// paused after Z read the registry, before its journal. The pause ends once V has finished or sleeps waiting for
    /// the lock.
    /// </summary>
    [Theory]
    [InlineData("direct")]
    [InlineData("unmerge")]
    public void A_0_registered_while_a_holder_is_about_to_write_1_is_not_lost(string path)
    {
        VmId z = A, v = B;
        _kernel.Merge = false;
        if (path == "unmerge") _kernel.Shares(256, 65280);
        var lockPath = Path.Combine(_state, KsmStateDirectory.LockFileName);
        KsmOutcome? vOutcome = null;
        Exception? vFailure = null;
        Thread? vThread = null;
        void VRegistersAndReconciles()
        {
            if (vThread is not null) return; // once
            Ask(v, false);
            vThread = new Thread(() =>
            {
                try { vOutcome = Reconciler(Policy(lockSeconds: 30)).Reconcile(); }
                catch (Exception e) { vFailure = e; }
            });
            vThread.Start();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (vThread.IsAlive && (vThread.ThreadState & ThreadState.WaitSleepJoin) == 0)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException("V neither finished nor " +
                    "waited for the lock");
                Thread.Yield();
            }
        }
        if (path == "direct")
            _kernel.Before = step => { if (step == "write merge_across_nodes=1") VRegistersAndReconciles(); };
        else
            // Z's look under the lock
            _kernel.ReadingMemAvailable = () => { if (!HostLock.IsFree(lockPath)) VRegistersAndReconciles(); };

        Ask(z, true);
        var zOutcome = Reconciler().Reconcile();
        vThread.Should().NotBeNull("the interleaving point was reached");
        vThread!.Join(TimeSpan.FromSeconds(60)).Should().BeTrue();
        vFailure.Should().BeNull();

        (zOutcome.Changed, zOutcome.Desired).Should().Be((true, true), "Z decided on a registry without V");
        vOutcome!.Changed.Should().BeTrue("V waited for Z and then undid its 1");
        vOutcome.Desired.Should().BeFalse();
        _kernel.Merge.Should().BeFalse("the registry holds a 0, so the host ends at 0");
        _kernel.Log.Where(l => l.StartsWith("write merge_across_nodes",
            StringComparison.Ordinal) && !l.EndsWith("EBUSY", StringComparison.Ordinal))
            .Should().Equal("write merge_across_nodes=1", "write merge_across_nodes=0");
        (_kernel.Run, File.Exists(JournalPath)).Should().Be((1, false));
    }

    [Fact]
    public void A_malformed_request_is_warned_about_once_and_ignored()
    {
        Ask(A, false);
        File.WriteAllText(Path.Combine(_state, "requests", B.Value), "merge_across_nodes=maybe\n");
        var outcome = Reconciler().Reconcile(); // reads the registry twice (lock-free look, then under the lock)
        outcome.Warnings.Should().ContainSingle().Which.Should().Contain(B.Value).And.Contain("not a KSM request");
        _kernel.Merge.Should().BeFalse();
    }

    private static VmId Vm(int i) => VmId.Parse($"cccccccc-0000-4000-8000-{i:x12}");

    [Fact]
    public void A_registration_beyond_Ksm_MaxRequests_is_refused_naming_the_directory_and_the_count()
    {
        var registry = new KsmRequests(_state, max: 3);
        for (var i = 1; i <= 3; i++) registry.Register(new KsmRequest(Vm(i), true, DateTimeOffset.UtcNow));
        var requests = Path.Combine(_state, KsmStateDirectory.RequestsDirectoryName);
        FluentActions.Invoking(() => registry.Register(new KsmRequest(Vm(4), false, DateTimeOffset.UtcNow)))
            .Should().Throw<KsmException>()
            .WithMessage($"{requests}: 3 KSM requests registered, the most Ksm:MaxRequests allows (3): VM {Vm(4)}'s " +
                $"request is refused*");
        File.Exists(Path.Combine(requests, Vm(4).Value)).Should().BeFalse();
        registry.Register(new KsmRequest(Vm(2), false,
            DateTimeOffset.UtcNow)); // a VM already registered replaces its entry
        registry.List().Select(r => (r.Vm, r.MergeAcrossNodes))
            .Should().Equal((Vm(1), true), (Vm(2), false), (Vm(3), true));
    }

    [Fact]
    public void A_full_registry_of_the_default_cap_is_read_and_one_more_is_refused()
    {
        var registry = new KsmRequests(_state);
        for (var i = 1; i <= KsmRequests.DefaultMax; i++) registry.Register(new KsmRequest(Vm(i), true,
            DateTimeOffset.UtcNow));
        var times = new List<double>();
        for (var round = 0; round < 5; round++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            registry.List().Should().HaveCount(KsmRequests.DefaultMax);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        var refused = System.Diagnostics.Stopwatch.StartNew();
        FluentActions.Invoking(() => registry.Register(new KsmRequest(Vm(KsmRequests.DefaultMax + 1), false,
            DateTimeOffset.UtcNow)))
            .Should().Throw<KsmException>()
                .WithMessage($"*: {KsmRequests.DefaultMax} KSM requests registered, the most Ksm:MaxRequests allows " +
                $"({KsmRequests.DefaultMax})*");
        Largeguest.Tests.Support.Figures.Report(_out,
            $"KSM registry: reading {KsmRequests.DefaultMax} requests (the default Ksm:MaxRequests) takes " +
                $"{times.Order().ElementAt(2):0} ms (median of 5); " +
            $"refusing the next registration {refused.Elapsed.TotalMilliseconds:0.#} ms");
    }

    [Fact]
    public void A_registry_holding_more_than_Ksm_MaxRequests_is_an_error_not_a_decision_on_part_of_it()
    {
        var registry = new KsmRequests(_state);
        for (var i = 1; i <= 5; i++) registry.Register(new KsmRequest(Vm(i), i != 5,
            DateTimeOffset.UtcNow)); // the last one asks 0
        var requests = Path.Combine(_state, KsmStateDirectory.RequestsDirectoryName);
        FluentActions.Invoking(() => Reconciler(Policy() with { MaxRequests = 4 }).Reconcile())
            .Should().Throw<KsmException>()
            .WithMessage($"{requests}: 5 KSM request files, more than Ksm:MaxRequests (4); none is read*");
        (_kernel.Merge, _kernel.Log.Count).Should().Be((true, 0), "nothing was decided, nothing written");
        Reconciler(Policy() with { MaxRequests = 5 }).Reconcile().Changed
            .Should().BeTrue("within the cap VM 5's 0 counts");
        _kernel.Merge.Should().BeFalse();
    }

    [Fact]
    public void A_request_with_a_corrupt_time_is_reported_and_the_others_still_decide()
    {
        Ask(A, false);
        File.WriteAllText(Path.Combine(_state, "requests", B.Value),
            "merge_across_nodes=1\nregistered_unix_ms=99999999999999999\n");
        var outcome = Reconciler().Reconcile();
        outcome.Warnings.Should().ContainSingle().Which.Should().Contain(B.Value).And
            .Contain("bad registered_unix_ms '99999999999999999'");
        (outcome.Changed, _kernel.Merge).Should().Be((true, false), "A's 0 still counts");

        var config = Largeguest.Config.LargeguestConfig.Defaults with { KsmStateDir = _state };
        var warnings = new List<string>();
        var status = KsmStatus.Read(config, _kernel, AssumeAlive.Instance, DateTimeOffset.UtcNow, warnings.Add);
        status.Requests.Select(r => r.Vm).Should().Equal(A);
        warnings.Should().ContainSingle().Which.Should().Contain(B.Value);
        status.ToText().Should().Contain($"{A}  merge_across_nodes=0");
    }

    [Fact]
    public async Task A_FIFO_as_a_request_file_is_reported_and_the_reconcile_neither_hangs_nor_loses_the_others()
    {
        Ask(A, false);
        var fifo = Path.Combine(_state, "requests", B.Value);
        System.Diagnostics.Process.Start("mkfifo", fifo)!.WaitForExit();
        File.Exists(fifo).Should().BeTrue("mkfifo must have created the FIFO");
        // a FIFO must not hang the root helper
        var outcome = await Task.Run(() => Reconciler().Reconcile()).WaitAsync(TimeSpan.FromSeconds(20));
        outcome.Warnings.Should().ContainSingle().Which.Should()
            .Contain($"{fifo}: not a KSM request (a FIFO, not a regular file)");
        _kernel.Merge.Should().BeFalse("A's 0 still counts");
    }

    [Fact]
    public void Stale_requests_are_dropped_and_no_longer_decide()
    {
        var old = DateTimeOffset.UtcNow.AddHours(-1);
        Ask(A, false, old);   // VM gone from libvirt an hour ago
        Ask(B, true, old);    // VM still running
        _kernel.Merge = false;
        var liveness = new FixedLiveness(new() { [A] = VmPresence.Absent, [B] = VmPresence.Present });
        var outcome = Reconciler(liveness: liveness).Reconcile();
        liveness.Asked.Should().BeEquivalentTo([A, B]);
        _kernel.Merge.Should().BeTrue();
        new KsmRequests(_state).List().Select(r => r.Vm).Should().Equal(B);
        outcome.Notes.Should().Contain(n => n.Contains($"dropped the stale request of VM {A}"));
    }

    [Fact]
    public void A_VM_registering_again_while_its_stale_request_is_pruned_keeps_the_fresh_one()
    {
        var old = DateTimeOffset.UtcNow.AddHours(-1);
        Ask(A, false, old);   // gone from libvirt an hour ago...
        Ask(B, true, old);    // still running
        _kernel.Merge = false;
        _kernel.Shares(10, 100);
        var lockPath = Path.Combine(_state, KsmStateDirectory.LockFileName);
        KsmRequest? fresh = null;
        _kernel.ReadingMemAvailable = () => // the reconcile read the registry under the lock; A starts again now
        {
            if (fresh is not null || HostLock.IsFree(lockPath)) return;
            fresh = new KsmRequest(A, false,
                DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
            new KsmRequests(_state).Register(fresh);
        };
        var outcome = Reconciler(liveness: new FixedLiveness(new() { [A] = VmPresence.Absent,
            [B] = VmPresence.Present })).Reconcile();
        fresh.Should().NotBeNull("the interleaving point was reached");
        new KsmRequests(_state).List().Should().Contain(r => r.Vm == A).Which
            .Should().Be(fresh, "A's fresh request survives the prune");
        outcome.Notes.Should().NotContain(n => n.Contains("dropped the stale request"));
        Directory.GetFiles(Path.Combine(_state, KsmStateDirectory.RequestsDirectoryName))
            .Should().HaveCount(2, "nothing is left aside");
    }

    [Fact]
    public void Conflicting_requests_end_at_0_and_the_1_asker_is_told()
    {
        Ask(B, false);
        var config = Largeguest.Config.LargeguestConfig.Defaults with { KsmStateDir = _state };
        var outcome = KsmService.Reconcile(new KsmHelperCall(A, true), config, _kernel);
        _kernel.Merge.Should().BeFalse();
        outcome.Notes.Should()
            .Contain(n => n.Contains($"VM {A} asks merge_across_nodes=1 but another VM asks 0, and 0 wins"));
    }

    [Fact]
    public void Release_removes_the_request_and_touches_no_kernel_file()
    {
        Ask(A, false);
        var config = Largeguest.Config.LargeguestConfig.Defaults with { KsmStateDir = _state };
        KsmService.Release(new KsmHelperCall(A, null), config).Notes.Should().BeEmpty();
        new KsmRequests(_state).List().Should().BeEmpty();
        _kernel.Log.Should().BeEmpty();
        KsmService.Release(new KsmHelperCall(A, null), config).Notes.Should().ContainSingle().Which.Should()
            .Contain("had no KSM request");
    }

    [Fact]
    public void Many_reconcilers_at_once_unmerge_once_and_never_leave_run_2()
    {
        _kernel.Shares(256, 65280);
        var vms = Enumerable.Range(0, 16).Select(i => VmId.Parse($"00000000-0000-4000-8000-{i:x12}")).ToList();
        var sync = new object();
        var kernel = new LockedKernel(_kernel, sync);
        var results = vms.AsParallel().WithDegreeOfParallelism(16).Select(vm =>
        {
            new KsmRequests(_state).Register(new KsmRequest(vm, vm == vms[3],
                DateTimeOffset.UtcNow)); // one asks 1, fifteen ask 0
            return new KsmReconciler(kernel, _state, Policy(lockSeconds: 30), AssumeAlive.Instance).Reconcile();
        }).ToList();
        _kernel.Log.Count(l => l == "unmerge").Should().Be(1);
        results.Count(r => r.Changed).Should().Be(1);
        (_kernel.Merge, _kernel.Run).Should().Be((false, 1));
        _kernel.RunHistory.Should().EndWith(1);
    }

    /// <summary>The simulator is not thread-safe; the host lock serialises writers, this serialises the reads of
    /// lock-free looks.</summary>
    private sealed class LockedKernel(SimulatedKsm inner, object sync) : IKsmKernel
    {
        public string Root => inner.Root;
        public long PageSize => inner.PageSize;
        public KsmState Read(IReadOnlyCollection<string>? only = null) { lock (sync) return inner.Read(only); }
        public void Write(string file, string value) { lock (sync) inner.Write(file, value); }
        public UnmergeResult Unmerge(TimeSpan budget, HostLock held) { lock (sync) return inner.Unmerge(budget, held); }
        public long MemAvailableBytes() { lock (sync) return inner.MemAvailableBytes(); }
    }
}
