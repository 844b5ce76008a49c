using System.CommandLine;
using System.Text;
using Largeguest.Admin;
using Largeguest.Grammar;
using Largeguest.IO;

namespace Largeguest.Hook.Cli;

/// <summary>
/// <c>largeguest apply DOMAIN.xml --set name=value ... [--dry-run]</c>: the hook's rewrite outside VDSM,
/// printed as a unified diff; the file is replaced atomically unless --dry-run.
/// </summary>
internal static class ApplyCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("DOMAIN.xml") { Description = "libvirt domain XML to rewrite" };
        var set = new Option<string[]>("--set")
        {
            Description = "A property as name=value (repeatable), e.g. --set cputune=0#0-3 --set numatune=strict#0",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the diff only; leave the file as it is" };
        var command = new Command("apply", "Apply properties to a domain XML file as the before_vm_start hook would " +
            "(domain and host checks included), and print the unified diff.")
        {
            file, set, dryRun,
        };
        command.SetAction(result => CliSupport.Guard(
            () => Run(result.GetValue(file)!, result.GetValue(set)!, result.GetValue(dryRun))));
        return command;
    }

    private static int Run(FileInfo file, string[] sets, bool dryRun)
    {
        var config = CliSupport.LoadConfig();
        var engine = CliSupport.ParseEngine(string.Join(';', sets.Select(s =>
            s.Contains(';')
                ? throw new PropertyException("--set", $"bad token '{s}': values never contain ';'", "name=value")
                : s)));
        var properties = LargeguestProperties.Parse(engine.Ours, config.DefaultMode);
        if (properties.KsmMergeAcrossNodes is not null)
            CliSupport.Diag.Note($"{LargeguestProperties.KsmMergeAcrossNodesName}: changes no XML; apply does not " +
                "touch the host's KSM");

        var original = HookContract.ReadDomain(file.FullName, "apply");
        var rewritten = properties.EditsXml
            ? HookRunner.Rewrite(original, properties, config, HostContext.ForHost(config, CliSupport.Diag))
            : original.AsMemory();
        var diff = UnifiedDiff.Create(Encoding.UTF8.GetString(original), Encoding.UTF8.GetString(rewritten.Span),
            "a/" + file.Name, "b/" + file.Name);
        Console.Write(diff);
        if (diff.Length == 0) CliSupport.Diag.Note($"{file.Name}: already as asked, nothing to change");
        else if (!dryRun)
            HookContract.WriteDomain(file.FullName, rewritten.Span, durable: true,
                "apply"); // an admin's file: survives a power loss
        return Commands.Success;
    }
}
