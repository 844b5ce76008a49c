using Largeguest.Config;

namespace Largeguest.Ksm;

/// <summary>The settings the KSM reconciler works with (from <see cref="LargeguestConfig"/>'s Ksm:* keys).</summary>
public sealed record KsmPolicy(
    int MemoryReservePercent,
    bool? DefaultMergeAcrossNodes,
    TimeSpan StaleGrace,
    TimeSpan LockTimeout,
    TimeSpan UnmergeTimeout)
{
    /// <summary>The fixed part of an unmerge's budget: process start, the lock's neighbours, a stable node
    /// lingering.</summary>
    public static readonly TimeSpan UnmergeBase = TimeSpan.FromSeconds(10);

    /// <summary>Budget per GiB to unmerge (<c>Ksm:UnmergeSecondsPerGiB</c>); <see cref="UnmergeTimeout"/> is the
    /// cap.</summary>
    public TimeSpan UnmergePerGiB { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The most request files the registry holds (<c>Ksm:MaxRequests</c>).</summary>
    public int MaxRequests { get; init; } = KsmRequests.DefaultMax;

    public static KsmPolicy From(LargeguestConfig c) =>
        new(c.KsmMemoryReservePercent, c.KsmDefaultMergeAcrossNodes, c.KsmStaleGrace, c.KsmLockTimeout,
            c.KsmUnmergeTimeout)
        {
            UnmergePerGiB = c.KsmUnmergePerGiB,
            MaxRequests = c.KsmMaxRequests,
        };

    /// <summary>
    /// How long unmerging <paramref name="costBytes"/> may take: unmerging is linear in the pages (about 2.4 GiB/s
    /// measured on a 128 GiB host, docs/vdsm-and-mom.md section 4), so the bound follows the work, capped by the key.
    /// </summary>
    public UnmergeTimeLimit UnmergeTimeLimitFor(long costBytes)
    {
        var byWork = UnmergeBase + UnmergePerGiB * ((double)costBytes / (1L << 30));
        return byWork < UnmergeTimeout
            ? new(byWork, $"10 s + {UnmergePerGiB.TotalSeconds:0.##} s per GiB, Ksm:UnmergeSecondsPerGiB")
            : new(UnmergeTimeout, "Ksm:UnmergeTimeoutSeconds");
    }
}

/// <summary>An unmerge's time bound and the setting that made it, for messages.</summary>
public sealed record UnmergeTimeLimit(TimeSpan Limit, string Source);

/// <summary>Everything the decision looks at, read by the runner (under the host lock when it acts).</summary>
public sealed record KsmObservation(
    KsmState State,
    IReadOnlyList<KsmRequest> Requests,
    IReadOnlyDictionary<VmId, VmPresence> Liveness,
    KsmJournal? Journal,
    long MemAvailableBytes,
    long PageSize,
    DateTimeOffset Now,
    bool DirectWriteRefused = false);

/// <summary>The host's desired <c>merge_across_nodes</c> and where it comes from.</summary>
public sealed record KsmDesire(
    bool? Value, string Source, IReadOnlyList<KsmRequest> Live, IReadOnlyList<KsmRequest> Stale);

/// <summary>The one next thing to do. The runner does it and decides again from a fresh reading.</summary>
public abstract record KsmStep
{
    /// <summary>The host is as it should be (or cannot be changed and need not be).</summary>
    public sealed record Nothing(string Why) : KsmStep;

    /// <summary>Nothing is shared: write <c>merge_across_nodes</c> directly.</summary>
    public sealed record Write(bool Value, bool From) : KsmStep;

    /// <summary>Pages are shared: journal, unmerge (run=2), write, restore <paramref name="PreviousRun"/>, drop the
    /// journal.</summary>
    public sealed record Unmerge(
        bool Value, bool From, KsmRun PreviousRun, long CostPages, long CostBytes, long AllowedBytes) : KsmStep;

    /// <summary>The change would be unsafe; nothing is touched.</summary>
    public sealed record Refuse(string Why) : KsmStep;

    /// <summary>A journal was left by a transition that died: finish it when nothing is shared, restore run, drop the
    /// journal.</summary>
    public sealed record Recover(KsmRun RestoreRun, bool? WriteValue, string Why) : KsmStep;
}

public sealed record KsmPlan(KsmDesire Desire, KsmStep Step);

/// <summary>
/// The reconciler's decisions, as pure functions of what was observed (docs/design.md section 6). No I/O here:
/// the runner (<see cref="KsmReconciler"/>) reads, asks <see cref="Decide"/>, does the one step, and asks again.
/// </summary>
public static class KsmPlanner
{
    private const long MiB = 1024 * 1024;

    /// <summary>The KSM files <see cref="Decide"/> looks at; the runner reads only these on its hot path.</summary>
    public static readonly IReadOnlyCollection<string> Inputs =
        [KsmFiles.Run, KsmFiles.MergeAcrossNodes, KsmFiles.PagesShared, KsmFiles.PagesSharing, KsmFiles.KsmZeroPages,
            KsmFiles.ZeroPagesSharing];

    /// <summary>Does the decision need <c>MemAvailable</c>? Only on the unmerge path (pages shared, or a direct write
    /// refused).</summary>
    public static bool NeedsMemory(KsmState state, bool directWriteRefused) =>
        state.PagesShared > 0 || directWriteRefused;

    /// <summary>A request is stale only when libvirt says the VM does not exist AND it is older than the grace
    /// period.</summary>
    public static bool IsStale(
        KsmRequest r, IReadOnlyDictionary<VmId, VmPresence> liveness, DateTimeOffset now, TimeSpan grace) =>
        now - r.Registered > grace && liveness.GetValueOrDefault(r.Vm, VmPresence.Unknown) == VmPresence.Absent;

    /// <summary>0 wins over 1; the configured default applies when no live request exists; null leaves the host
    /// alone.</summary>
    public static KsmDesire Desire(
        IReadOnlyList<KsmRequest> requests, IReadOnlyDictionary<VmId, VmPresence> liveness, DateTimeOffset now,
        KsmPolicy policy)
    {
        var stale = requests.Where(r => IsStale(r, liveness, now, policy.StaleGrace)).ToList();
        var live = requests.Where(r => !stale.Contains(r)).ToList();
        var (value, source) = Combine(live, policy.DefaultMergeAcrossNodes);
        return new KsmDesire(value, source, live, stale);
    }

    /// <summary>
    /// The VMs whose liveness could change the desired value: requests past the grace period, and only when
    /// counting them or not makes a difference (the value only depends on "any 0", "any 1" and the default).
    /// Saves a libvirt round trip on the common path.
    /// </summary>
    public static IReadOnlyCollection<VmId> LivenessNeeded(
        IReadOnlyList<KsmRequest> requests, DateTimeOffset now, KsmPolicy policy)
    {
        var old = PastGrace(requests, now, policy);
        if (old.Count == 0) return [];
        var young = requests.Where(r => now - r.Registered <= policy.StaleGrace).ToList();
        return Combine(young, policy.DefaultMergeAcrossNodes).Value
            == Combine(requests, policy.DefaultMergeAcrossNodes).Value
            ? []
            : old;
    }

    /// <summary>The VMs whose requests are past the grace period: the ones that could be stale (status asks libvirt
    /// about each).</summary>
    public static IReadOnlyCollection<VmId> PastGrace(
        IReadOnlyList<KsmRequest> requests, DateTimeOffset now, KsmPolicy policy) =>
        requests.Where(r => now - r.Registered > policy.StaleGrace).Select(r => r.Vm).Distinct().ToList();

    private static (bool? Value, string Source) Combine(IReadOnlyList<KsmRequest> live, bool? fallback)
    {
        foreach (var want in new[] { false, true })
        {
            var askers = live.Where(r => r.MergeAcrossNodes == want)
                .Select(r => r.Vm.Value)
                .Order(StringComparer.Ordinal)
                .ToList();
            if (askers.Count > 0)
                return (want, $"asked by VM {askers[0]}" + (askers.Count > 1 ? $" and {askers.Count - 1} more" : ""));
        }
        return fallback is bool d
            ? (d, "Ksm:DefaultMergeAcrossNodes (no VM asked)")
            : (null, "no VM asked and Ksm:DefaultMergeAcrossNodes is empty");
    }

    public static KsmPlan Decide(KsmObservation o, KsmPolicy policy)
    {
        var desire = Desire(o.Requests, o.Liveness, o.Now, policy);
        return new KsmPlan(desire, Step(o, desire, policy));
    }

    private static KsmStep Step(KsmObservation o, KsmDesire desire, KsmPolicy policy)
    {
        var s = o.State;
        if (o.Journal is { } journal) return Recover(s, journal, desire.Value);
        if (!s.Present)
            return new KsmStep.Nothing("this kernel has no KSM (/sys/kernel/mm/ksm is missing): nothing is merged");
        if (desire.Value is not bool want) return new KsmStep.Nothing(desire.Source);
        if (s.MergeAcrossNodes is not bool current)
            return new KsmStep.Nothing(
                "this kernel has no merge_across_nodes (built without NUMA support): KSM cannot merge across nodes");
        if (current == want)
            return new KsmStep.Nothing($"merge_across_nodes is already {KsmFiles.Bit(want)} ({desire.Source})");
        if (s.PagesShared == 0 && !o.DirectWriteRefused) return new KsmStep.Write(want, current);

        var (costPages, costBytes, allowed) = Budget(s, o.PageSize, o.MemAvailableBytes, policy);
        if (costBytes > allowed)
            return new KsmStep.Refuse(
                $"merge_across_nodes not changed to {KsmFiles.Bit(want)} ({desire.Source}): " +
                $"unmerging {costPages} pages needs {costBytes / MiB} MiB " +
                $"but only {allowed / MiB} MiB may be used (MemAvailable {o.MemAvailableBytes / MiB} MiB " +
                $"less Ksm:MemoryReservePercent {policy.MemoryReservePercent}%)");
        // run=2 is a command, not a state: once its unmerge is done its steady equivalent is 0 (stopped, nothing
        // merged).
        var previousRun = Steady(s.Run);
        return new KsmStep.Unmerge(want, current, previousRun, costPages, costBytes, allowed);
    }

    private static KsmStep Recover(KsmState s, KsmJournal journal, bool? want)
    {
        // Finish the change when it is safe without an unmerge (nothing shared); otherwise roll back (restore run)
        // and let the next decision start a fresh, fully checked transition.
        var finish = want is bool w && s.MergeAcrossNodes is bool current && current != w && s.PagesShared == 0
            ? w
            : (bool?)null;
        if (journal.PreviousRun is KsmRun run)
            return new KsmStep.Recover(run, finish,
                $"a KSM transition died part-way (journal: previous run {KsmFiles.Text(run)}, " +
                $"merge_across_nodes {KsmFiles.Bit(journal.Target)})");
        var restore = Steady(s.Run);
        return new KsmStep.Recover(restore, finish,
            $"a KSM transition died part-way and its journal is unreadable ({journal.Text}); " +
            $"run set to {KsmFiles.Text(restore)}");
    }

    /// <summary>The steady <c>run</c> to restore: merging stays merging; stopped, unmerge mode or unreadable become
    /// stopped.</summary>
    private static KsmRun Steady(KsmRun? run) => run == KsmRun.Merge ? KsmRun.Merge : KsmRun.Stop;

    /// <summary>
    /// The one memory rule for every unmerge (the hook's transition and `ksm prune`): it costs a fresh page per
    /// sharing page (and per KSM zero page), and may allocate MemAvailable less Ksm:MemoryReservePercent.
    /// </summary>
    public static (long CostPages, long CostBytes, long AllowedBytes) Budget(
        KsmState s, long pageSize, long memAvailableBytes, KsmPolicy policy) =>
        (s.UnmergeCostPages, s.UnmergeCostPages * pageSize,
            memAvailableBytes / 100 * (100 - policy.MemoryReservePercent));
}
