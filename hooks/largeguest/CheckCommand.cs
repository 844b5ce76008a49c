using System.CommandLine;
using Largeguest.Admin;
using Largeguest.Domain;
using Largeguest.Grammar;

namespace Largeguest.Hook.Cli;

/// <summary>
/// <c>largeguest check "cputune=...;numatune=..." [--domain FILE] [--json]</c>: parse and explain, touch nothing.
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var properties = new Argument<string>("properties")
        {
            Description = "The VM's custom properties as the engine holds them: name=value;name=value (other hooks' " +
                "properties are ignored)",
        };
        var domain = new Option<FileInfo>("--domain")
        {
            Description = "Also check the properties against this domain XML (vCPU ids, cells, memory), as the hook " +
                "would",
        };
        var json = new Option<bool>("--json")
        {
            Description = "Print the result as one JSON object (snake_case: properties, property_string, " +
                "explanation, ignored, domain); errors stay on stderr with exit 2",
        };
        var command = new Command("check", "Parse a custom-property string, print its canonical form and what it " +
            "will do; exit 2 naming the bad token if it is wrong.")
        {
            properties, domain, json,
        };
        command.SetAction(result => CliSupport.Guard(() =>
            Run(result.GetValue(properties)!, result.GetValue(domain), result.GetValue(json))));
        return command;
    }

    private static int Run(string text, FileInfo? domainFile, bool json)
    {
        var config = CliSupport.LoadConfig();
        var engine = CliSupport.ParseEngine(text);
        if (engine.Ours.Count == 0 && !json)
        {
            Console.WriteLine($"no largeguest property set (known: {string.Join(", ", LargeguestProperties.Names)})");
            return Commands.Success;
        }
        var parsed = LargeguestProperties.Parse(engine.Ours, config.DefaultMode);
        if (domainFile is not null)
        {
            var doc = DomainDocument.Parse(HookContract.ReadDomain(domainFile.FullName, "--domain"));
            DomainChecks.Check(doc, parsed);
            HookRunner.CheckCpuPolicy(doc, parsed, config, CliSupport.Diag);
            DomainChecks.CheckGuestTopology(doc, parsed,
                config.GuestNumaTopologyMismatch == Largeguest.Config.FailurePolicy.Fail,
                CliSupport.Diag.Warn);
        }
        if (json)
        {
            var canonical = parsed.Canonical().ToList();
            new CheckOutput(
                [.. canonical.Select(c => (c.Name, c.Value))],
                LargeguestProperties.EngineString(canonical),
                [.. canonical.Select(c => (c.Name,
                    (IReadOnlyList<string>)[.. Explanation.Of(c.Name, parsed, config.DefaultMode)]))],
                [.. engine.Others],
                domainFile is null ? null : new CheckedDomain(domainFile.FullName, Fits: true)).Print();
            return Commands.Success;
        }
        foreach (var line in Explanation.Lines(parsed, config.DefaultMode)) Console.WriteLine(line);
        if (domainFile is not null) Console.WriteLine($"fits domain {domainFile.Name}");
        return Commands.Success;
    }
}
