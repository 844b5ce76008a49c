using System.Collections;
using Largeguest.Admin;
using Largeguest.Config;
using Largeguest.Hook;
using Largeguest.IO;

namespace Largeguest.Hook.Cli;

/// <summary>What every admin command shares: the stderr voice, the configuration, the error-to-exit-code
/// rule.</summary>
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

    /// <summary>Runs a command body; any failure becomes one error line (<see cref="HookContract.Describe"/>) and exit
    /// 2.</summary>
    public static int Guard(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) { Diag.Error(HookContract.Describe(e)); return Commands.Failure; }
    }

    /// <summary>An engine property string; other hooks' properties are noted and left out.</summary>
    public static EngineProperties ParseEngine(string text)
    {
        var engine = EngineProperties.Parse(text);
        foreach (var other in engine.Others) Diag.Note($"{other}: not a largeguest property, ignored");
        return engine;
    }
}
