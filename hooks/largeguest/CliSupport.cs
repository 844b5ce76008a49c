using System.Collections;
using Largeguest.Config;
using Largeguest.Hook;

namespace Largeguest.Hook.Cli;

/// <summary>What every admin command shares: the stderr voice, the configuration, the error-to-exit-code rule.</summary>
internal static class CliSupport
{
    public static readonly Diagnostics Diag = new(Console.Error);

    public static Dictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            env[(string)e.Key] = (string?)e.Value ?? "";
        return env;
    }

    public static LargeguestConfig LoadConfig() => LargeguestConfig.Load(Environment(), privileged: false, Diag.Warn);

    /// <summary>Runs a command body; the product's known failures become one error line and exit 2.</summary>
    public static int Guard(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (HookRunner.Describe(e) is { } message) { Diag.Error(message); return Commands.Failure; }
    }
}
