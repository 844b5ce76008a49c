using System.CommandLine;
using Largeguest.IO;

namespace Largeguest.Hook.Cli;

/// <summary>
/// The admin command line. Each command group lives in its own file and is registered here, once.
/// Exit codes follow the hook's: 0 success, 2 error (a usage error also exits 2, never 1).
/// </summary>
internal static class Commands
{
    // The hook's exit codes (HookContract, docs/design.md section 3), named here for the commands.
    public const int Success = HookContract.Success;
    public const int Failure = HookContract.Failure;

    public static int Run(string[] args)
    {
        var root = new RootCommand(HelpText.Overview);
        root.Subcommands.Add(CheckCommand.Create());
        root.Subcommands.Add(ApplyCommand.Create());
        root.Subcommands.Add(TopologyCommand.Create());
        root.Subcommands.Add(SuggestCommand.Create());
        root.Subcommands.Add(KsmCommand.Create());
        // No @file response files: the argument vector (also the one sudo passes) is exactly what was typed.
        var result = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (result.Errors.Count > 0)
        {
            // An unknown first word: say that, not also System.CommandLine's "Required command was not provided".
            var unknownCommand = result.CommandResult.Command == root && result.UnmatchedTokens.Count > 0;
            IEnumerable<string> messages = unknownCommand
                ? [$"unknown command '{result.UnmatchedTokens[0]}' (commands: " +
                    $"{string.Join(", ", root.Subcommands.Select(c => c.Name))})"]
                : result.Errors.Select(e => e.Message);
            foreach (var message in messages) CliSupport.Diag.Error(message);
            Console.Error.WriteLine($"{Diagnostics.Program}: see 'largeguest --help'");
            return Failure;
        }
        return result.Invoke();
    }
}
