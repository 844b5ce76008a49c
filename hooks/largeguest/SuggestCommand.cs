using System.CommandLine;
using Largeguest.Grammar;
using Largeguest.Host;

namespace Largeguest.Hook.Cli;

/// <summary>
/// <c>largeguest suggest --vcpus N --memory SIZE [--cells K] [--sockets S] [--io-threads T] [--json]</c>: property
/// values that place the guest on this host's topology (one <c>name=value</c> per line on stdout, the layout explained
/// on stderr; or all of it as JSON on stdout).
/// </summary>
internal static class SuggestCommand
{
    public static Command Create()
    {
        var vcpus = new Option<int>("--vcpus") { Description = "The guest's vCPUs (the domain's <vcpu> maximum).",
            Required = true };
        var memory = new Option<string>("--memory") { Description = "The guest's memory, e.g. 64G (KiB, or with K, " +
            "M, G, T).", Required = true };
        var cells = new Option<int?>("--cells") { Description = "Guest NUMA cells = host nodes to use (default: the " +
            "fewest that hold the guest)." };
        var sockets = new Option<int?>("--sockets") { Description = "The guest's sockets (<cpu><topology sockets>; " +
            "engine: Virtual Sockets): each cell then holds whole sockets." };
        var ioThreads = new Option<int>("--io-threads") { Description = "The guest's I/O threads (<iothreads>): pin " +
            "them and the emulator to CPUs the vCPUs leave free in each cell's node." };
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON object on stdout instead (snake_case: properties, property_string, " +
                "engine_cpu_pinning, cells, io_threads); errors stay on stderr with exit 2.",
        };
        var command = new Command("suggest", "Suggest cputune, numatune and guestnuma values that place a guest on " +
            "this host's NUMA topology.");
        command.Options.Add(vcpus);
        command.Options.Add(memory);
        command.Options.Add(cells);
        command.Options.Add(sockets);
        command.Options.Add(ioThreads);
        command.Options.Add(json);
        command.SetAction(result => CliSupport.Guard(() =>
        {
            var diag = CliSupport.Diag;
            MemorySize size;
            try { size = MemorySize.Parse(result.GetValue(memory) ?? ""); }
            catch (SyntaxException e)
            {
                diag.Error($"--memory: {e.Problem} (expected: {e.Expected})"); return Commands.Failure;
            }
            var topology = TopologyCommand.Load();
            Suggestion suggestion;
            try
            {
                suggestion = PlacementSuggester.Suggest(topology, result.GetValue(vcpus), size,
                    result.GetValue(cells), result.GetValue(sockets), result.GetValue(ioThreads));
            }
            catch (PlacementException e) { diag.Error($"suggest: {e.Message}"); return Commands.Failure; }
            if (result.GetValue(json))
            {
                new SuggestOutput(
                    [.. suggestion.Properties.Select(p => (p.Name, p.Value))],
                    suggestion.PropertyString,
                    suggestion.CpuTune.ToEnginePinning(),
                    [.. suggestion.Cells.Select((c, id) => new SuggestedCellOutput(
                        id, c.Vcpus.ToString(), c.HostNode, CpuSet.Format(c.HostCpus.Order()), c.Memory.KiB))],
                    suggestion.CpuTune.IoThreads.Count).Print();
                return Commands.Success;
            }
            foreach (var (name, value) in suggestion.Properties) Console.Out.WriteLine($"{name}={value}");
            for (var id = 0; id < suggestion.Cells.Count; id++)
            {
                var cell = suggestion.Cells[id];
                diag.Note($"guest cell {id}: vCPUs {cell.Vcpus} on host node {cell.HostNode} CPUs " +
                    $"{CpuSet.Format(cell.HostCpus.Order())}, {cell.Memory.Readable()}");
            }
            if (suggestion.CpuTune.IoThreads.Count is > 0 and var io)
                diag.Note($"I/O thread(s) {CpuSet.Format(Enumerable.Range(1, io))} and the emulator on CPUs the " +
                    $"vCPUs leave free (the VM needs <iothreads>{io}</iothreads>: engine Resource Allocation, I/O " +
                    $"Threads {io})");
            diag.Note($"as one custom-property string: {suggestion.PropertyString}");
            // VDSM keeps cputune's pins only under the engine's "Manual" CPU Pinning Policy (docs/vdsm-and-mom.md).
            diag.Note($"engine CPU pinning string (CPU Pinning Policy \"Manual\", VM pinned to its hosts): " +
                $"{suggestion.CpuTune.ToEnginePinning()}");
            return Commands.Success;
        }));
        return command;
    }
}
