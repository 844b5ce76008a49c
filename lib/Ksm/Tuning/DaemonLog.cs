namespace Largeguest.Ksm.Tuning;

/// <summary>
/// The tuning daemon's log: one line per event on stderr, which systemd hands to journald. journald reads a leading
/// <c>&lt;N&gt;</c> as the line's syslog priority (sd-daemon(3)), so <c>journalctl -u largeguest-ksmtune -p warning</c>
/// finds the warnings and errors and nothing else. Run by hand, the prefix stays visible and says the same.
/// </summary>
public sealed class DaemonLog(Action<string> writeLine)
{
    private const int ErrorPriority = 3, WarningPriority = 4, InfoPriority = 6;

    /// <summary>Something failed and the daemon could not do its work (a cycle, stopping ksmd).</summary>
    public void Error(string message) => writeLine($"<{ErrorPriority}>{message}");

    /// <summary>Something degraded that the daemon works around (metrics, the guest watch, the textfile).</summary>
    public void Warning(string message) => writeLine($"<{WarningPriority}>{message}");

    public void Info(string message) => writeLine($"<{InfoPriority}>{message}");
}
