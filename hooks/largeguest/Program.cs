using System.Collections;
using Largeguest.Hook;

namespace Largeguest.Hook.Cli;

public static class Program
{
    // Hook mode (no arguments, as VDSM runs us) goes straight to the runner: the command-line
    // machinery is only touched for admin subcommands, so it costs the hook nothing at start-up.
    public static int Main(string[] args) =>
        args.Length == 0 ? HookRunner.Run(Invocation(), Environment(), Console.Error) : Commands.Run(args);

    /// <summary>argv[0] as VDSM passed it (the hook directory path), not the resolved binary path.</summary>
    private static string Invocation() => System.Environment.GetCommandLineArgs()[0];

    private static Dictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            env[(string)e.Key] = (string?)e.Value ?? "";
        return env;
    }
}
