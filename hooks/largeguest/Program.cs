using Largeguest.Hook;

namespace Largeguest.Hook.Cli;

public static class Program
{
    // Hook mode (no arguments, as VDSM runs us) goes straight to the runner: the command-line
    // machinery is only touched for admin subcommands, so it costs the hook nothing at start-up.
    // A VM without our properties (most runs) is answered from getenv alone: no environment
    // dictionary, stderr writer or path work is built for it.
    public static int Main(string[] args)
    {
        if (args.Length > 0) return Commands.Run(args);
        if (HookRunner.NothingAsked(System.Environment.GetEnvironmentVariable)) return HookContract.Success;
        return HookRunner.Run(Invocation(), CliSupport.Environment(), () => Console.Error);
    }

    /// <summary>argv[0] as VDSM passed it (the hook directory path), not the resolved binary path.</summary>
    private static string Invocation()
    {
        var argv0 = System.Environment.GetCommandLineArgs()[0];
        return argv0.Contains('/') ? Path.GetFullPath(argv0) : argv0; // ./50_largeguest run from the hook dir
    }
}
