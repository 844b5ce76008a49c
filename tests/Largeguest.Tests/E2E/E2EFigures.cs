using System.Globalization;

namespace Largeguest.Tests.E2E;

/// <summary>
/// The end-to-end suite's figures, printed as <c>FIGURE: ...</c> lines on stdout (which `dotnet test`
/// passes through to `make test`'s output).
/// </summary>
public sealed class E2EFigures
{
    private readonly object _gate = new();
    private readonly List<double> _startSeconds = [];
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public double StartSeconds { get; set; }
    public double StopSeconds { get; set; }
    public int GuestsBooted { get; private set; }
    public int ChecksPassed { get; private set; }
    public int ChecksFailed { get; private set; }
    public int Cases { get; private set; }
    public int CasesFailed { get; private set; }
    public int MigrationsIdentical { get; private set; }
    public int Migrations { get; private set; }

    public void Print(string text)
    {
        lock (_gate) Console.Out.WriteLine("FIGURE: " + text);
    }

    public void GuestBooted(double seconds)
    {
        lock (_gate) { GuestsBooted++; _startSeconds.Add(seconds); }
    }

    public void Migration(bool identical)
    {
        lock (_gate) { Migrations++; if (identical) MigrationsIdentical++; }
    }

    public void CaseDone(string id, E2EChecks checks, double seconds)
    {
        lock (_gate)
        {
            Cases++;
            ChecksPassed += checks.Passed;
            ChecksFailed += checks.Failures.Count;
            if (checks.Failures.Count > 0) CasesFailed++;
        }
        Print(string.Create(CultureInfo.InvariantCulture,
            $"e2e guest {id}: {checks.Passed} checks passed, {checks.Failures.Count} failed, {seconds:0.0} s"));
    }

    /// <summary>A case that ended in an exception before its checks could finish.</summary>
    public void CaseAborted(string id, string reason)
    {
        lock (_gate) { Cases++; CasesFailed++; }
        Print($"e2e guest {id}: ABORTED: {reason}");
    }

    public void PrintSummary()
    {
        string s;
        lock (_gate)
        {
            var start = _startSeconds.Count == 0 ? "none"
                : string.Create(CultureInfo.InvariantCulture,
                    $"min {_startSeconds.Min():0.00} s, mean {_startSeconds.Average():0.00} s, max " +
                        $"{_startSeconds.Max():0.00} s");
            s = string.Create(CultureInfo.InvariantCulture,
                $"e2e summary: {Cases} cases ({CasesFailed} failed), {GuestsBooted} guests booted, " +
                $"{ChecksPassed} kernel/QEMU/libvirt checks passed, {ChecksFailed} failed; " +
                $"migrations through before_vm_migrate_destination: " +
                $"{MigrationsIdentical}/{Migrations} byte-identical; " +
                $"guest start (virsh start/create until every vCPU thread runs): {start}; " +
                $"libvirtd start {StartSeconds:0.0} s, teardown {StopSeconds:0.0} s, total " +
                    $"{_clock.Elapsed.TotalSeconds:0.0} s");
        }
        Print(s);
    }
}

/// <summary>
/// A case's checks: every check is counted, a failed one is recorded (with expected and actual) and the
/// case goes on, so one run shows every mismatch; <see cref="ThrowIfFailed"/> then fails the test.
/// </summary>
public sealed class E2EChecks(string caseId, Action<string> log)
{
    public int Passed { get; private set; }
    public List<string> Failures { get; } = [];

    public bool Equal<T>(T expected, T actual, string what)
    {
        if (EqualityComparer<T>.Default.Equals(expected, actual))
        {
            Passed++;
            log($"ok   {what}: {actual}");
            return true;
        }
        Failures.Add($"{what}: expected {expected}, actual {actual}");
        log($"FAIL {what}: expected {expected}, actual {actual}");
        return false;
    }

    public bool True(bool condition, string what, string detail = "")
    {
        if (condition) { Passed++; log($"ok   {what}"); return true; }
        Failures.Add(detail.Length == 0 ? what : $"{what}: {detail}");
        log($"FAIL {what} {detail}");
        return false;
    }

    public void ThrowIfFailed()
    {
        if (Failures.Count > 0)
            throw new Xunit.Sdk.XunitException(
                $"e2e case {caseId}: {Failures.Count} check(s) failed ({Passed} passed):\n  " + string.Join("\n  ",
                    Failures));
    }
}
