using System.CommandLine;

namespace Largeguest.Hook.Cli;

internal static class CheckCommand
{
    public static Command Create()
    {
        var properties = new Argument<string>("properties")
        {
            Description = "The VM's custom properties as the engine holds them: name=value;name=value",
        };
        var command = new Command("check", "Parse and explain a custom-property string without touching any VM.");
        command.Arguments.Add(properties);
        command.SetAction(result => Commands.Failure);
        return command;
    }
}
