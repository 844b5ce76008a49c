using System.Globalization;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// What one tuner action did, for stdout/stderr and the tests; <see cref="Decision"/> is a tuning cycle's (null
/// otherwise).
/// </summary>
public sealed record TunerOutcome(TunerState State, IReadOnlyList<string> Notes, CycleDecision? Decision = null);

/// <summary>
/// The effectful side of the tuner: observes memory, asks <see cref="TuningCycle.Decide"/>, and writes
/// pages_to_scan, sleep_millisecs and run under the host-wide KSM lock (re-reading the kernel under it, so that a
/// transition of the hook's reconciler is never overwritten half-way). Also the administrator's run/stop/prune.
/// </summary>
public sealed class KsmTuner(ITunerHost host, TunerSettings settings, string stateDir, TimeProvider? time = null,
    Func<MemInfo>? memInfo = null, Func<long>? committed = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Func<MemInfo> _memInfo = memInfo ?? (() => MemInfo.Read());
    private readonly Func<long> _committed = committed ?? (() => CommittedMemory.TotalKiB());

    public TunerSettings Settings => settings;

    public TunerState Current(Action<string>? warn = null) =>
        TunerState.Load(stateDir, warn) ?? new TunerState { Mode = settings.Mode.Name() };

    /// <summary>
    /// One tuning cycle. <paramref name="force"/> (--once) tunes even when the administrator stopped or pruned, and
    /// hands ksmd back to the tuner; the daemon's cycles leave a stopped or pruned host alone.
    /// </summary>
    public TunerOutcome Cycle(bool force = false)
    {
        var before = Current();
        if (!force && before.Request != TunerRequest.Run)
            return new(before, [$"tuning paused: 'largeguest ksm {before.Request.ToString().ToLowerInvariant()}' " +
                $"at {before.At:u}; 'largeguest ksm run' or 'ksm tune --once' resumes it"]);

        var recovered = host.RecoverDiedTransition();
        var mem = _memInfo();
        var committedKiB = _committed();
        using var held = host.Lock();
        var ksm = Present(host.ReadKsm());
        // Every unmerge of this product runs under the lock we now hold: run=2 here is unmerge mode left behind
        // (a prune or transition that died, or another tool), not one in progress. The decision replaces it.
        var leftover = RunOf(ksm) == KsmRun.Unmerge ? "run was 2 (unmerge mode left behind), replaced; " : "";
        var input = new CycleInput(mem.TotalKiB, mem.UsableKiB, committedKiB,
            Number(ksm, KsmFiles.PagesToScan) ?? settings.Parameters.MinPages);
        var d = TuningCycle.Decide(input, settings.Parameters, settings.ThresCoef, settings.ThresConstKiB,
            settings.Mode);
        var swap = SwapCover.Of(mem, committedKiB, new KsmState(ksm).UnmergeCostPages, Environment.SystemPageSize);
        if (d.Action == KsmdAction.Start)
        {
            host.WriteKsm(KsmFiles.PagesToScan, Text(d.PagesToScan));
            host.WriteKsm(KsmFiles.SleepMillisecs, Text(d.SleepMillisecs));
            host.WriteRun(d.Run);
        }
        else
        {
            host.WriteRun(d.Run);
            host.WriteKsm(KsmFiles.PagesToScan, Text(d.PagesToScan));
        }
        var state = Record(before, d.Action == KsmdAction.Start ? TunerPhase.Running : TunerPhase.Stopped,
            d.Action == KsmdAction.Start ? "start" : "stop", leftover + d.Why, mem, committedKiB, d.PagesToScan,
            d.SleepMillisecs, d.ThresholdKiB, TunerRequest.Run, swap);
        return new(state, [.. recovered, .. swap.Covered ? Array.Empty<string>() : [swap.Text], state.Why], d);
    }

    /// <summary>
    /// <c>ksm run</c>: start ksmd now with the tuner's pages_to_scan and sleep, and hand it back to the tuner.
    /// </summary>
    public TunerOutcome StartKsmd()
    {
        var before = Current();
        var mem = _memInfo();
        using var held = host.Lock();
        var ksm = Present(host.ReadKsm());
        var pages = TuningCycle.Clamp(Number(ksm, KsmFiles.PagesToScan) ?? settings.Parameters.MinPages,
            settings.Parameters);
        var sleep = TuningCycle.SleepMillisecs(settings.Parameters.SleepMsec, mem.TotalKiB);
        if (RunOf(ksm) == KsmRun.Unmerge) host.WriteRun(KsmRun.Stop); // leave unmerge mode before running again
        host.WriteKsm(KsmFiles.PagesToScan, Text(pages));
        host.WriteKsm(KsmFiles.SleepMillisecs, Text(sleep));
        host.WriteRun(KsmRun.Merge);
        var why = $"ksm run: ksmd started (pages_to_scan {pages}, sleep_millisecs {sleep}); " +
            "the tuner adjusts it from the next cycle";
        var state = Record(before, TunerPhase.Running, "run", why, mem, before.CommittedKiB, pages, sleep,
            before.ThresholdKiB, TunerRequest.Run);
        return new(state, [why]);
    }

    /// <summary><c>ksm stop</c>: stop ksmd, keep the shared pages shared, pause the tuner.</summary>
    public TunerOutcome StopKsmd()
    {
        var before = Current();
        using var held = host.Lock();
        var ksm = Present(host.ReadKsm());
        var wasRun = Number(ksm, KsmFiles.Run);
        host.WriteRun(KsmRun.Stop);
        var why = $"ksm stop: ksmd stopped (run was {wasRun}); {Number(ksm, KsmFiles.PagesShared) ?? 0} KSM pages " +
            "stay shared; tuning paused until 'largeguest ksm run'";
        var state = Record(before, TunerPhase.Stopped, "stop", why, null, before.CommittedKiB,
            Number(ksm, KsmFiles.PagesToScan) ?? 0, Number(ksm, KsmFiles.SleepMillisecs) ?? 0, before.ThresholdKiB,
            TunerRequest.Stop);
        return new(state, [why]);
    }

    /// <summary>
    /// <c>ksm prune</c>: stop ksmd and unmerge every page, with the reconciler's memory check; pause the tuner.
    /// </summary>
    public TunerOutcome Prune()
    {
        var before = Current();
        var recovered = host.RecoverDiedTransition();
        using var held = host.Lock();
        Present(host.ReadKsm());
        var account = host.Prune(held);
        var ksm = host.ReadKsm();
        var why = $"ksm prune: {account}; pages_shared now {Number(ksm, KsmFiles.PagesShared) ?? 0}; " +
            "tuning paused until 'largeguest ksm run'";
        var state = Record(before, TunerPhase.Pruned, "prune", why, null, before.CommittedKiB,
            Number(ksm, KsmFiles.PagesToScan) ?? 0, Number(ksm, KsmFiles.SleepMillisecs) ?? 0, before.ThresholdKiB,
            TunerRequest.Prune);
        return new(state, [.. recovered, why]);
    }

    /// <summary>Records a failed cycle (the daemon carries on; the error shows in status and metrics).</summary>
    public TunerState RecordError(string message)
    {
        var current = Current();
        var s = current with { Errors = current.Errors + 1, LastError = message, At = _time.GetUtcNow() };
        TrySave(s);
        return s;
    }

    private TunerState Record(TunerState before, TunerPhase phase, string action, string why, MemInfo? mem,
        long committedKiB, long pages, long sleep, long thres, TunerRequest request, SwapCover? swap = null)
    {
        var state = before with
        {
            Request = request,
            Phase = phase,
            Mode = settings.Mode.Name(),
            PagesToScan = pages,
            SleepMillisecs = sleep,
            ThresholdKiB = thres,
            TotalKiB = mem?.TotalKiB ?? before.TotalKiB,
            FreeKiB = mem?.UsableKiB ?? before.FreeKiB,
            CommittedKiB = committedKiB,
            LastAction = action,
            Why = why,
            At = _time.GetUtcNow(),
            Cycles = before.Cycles + (action is "start" or "stop" ? 1 : 0),
            SwapFreeKiB = swap?.SwapFreeKiB ?? before.SwapFreeKiB,
            SwapNeedKiB = swap?.NeedKiB ?? before.SwapNeedKiB,
            SwapCovered = swap?.Covered ?? before.SwapCovered,
            Swap = swap?.Text ?? before.Swap,
        };
        state.Save(stateDir);
        return state;
    }

    private void TrySave(TunerState s)
    {
        try { s.Save(stateDir); } catch (KsmException) { } // the error being recorded is the one that matters
    }

    private static IReadOnlyDictionary<string, string> Present(IReadOnlyDictionary<string, string> ksm) =>
        ksm.Count > 0
            ? ksm
            : throw new KsmTuneException("this kernel has no KSM (/sys/kernel/mm/ksm is missing): nothing to tune");

    public static long? Number(IReadOnlyDictionary<string, string> ksm, string file) =>
        ksm.TryGetValue(file, out var t)
            && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
                ? v
                : null;

    private static KsmRun? RunOf(IReadOnlyDictionary<string, string> ksm) => new KsmState(ksm).Run;

    private static string Text(long v) => v.ToString(CultureInfo.InvariantCulture);
}
