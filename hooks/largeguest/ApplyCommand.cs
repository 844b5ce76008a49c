using System.CommandLine;

namespace Largeguest.Hook.Cli;

internal static class ApplyCommand
{
    public static Command Create()
    {
        var command = new Command("apply", "Apply properties to a domain XML file and print the unified diff.");
        command.SetAction(result => Commands.Failure);
        return command;
    }
}
