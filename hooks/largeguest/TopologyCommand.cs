using System.CommandLine;
using System.Text;
using System.Text.Json;
using Largeguest.Grammar;
using Largeguest.Host;
using Largeguest.IO;

namespace Largeguest.Hook.Cli;

/// <summary><c>largeguest topology [--json]</c>: the host model, as the hook sees it, for writing the
/// properties.</summary>
internal static class TopologyCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the model as JSON (sizes in KiB)." };
        var command = new Command("topology", "Show the host's NUMA nodes, CPUs (with thread siblings), memory and " +
            "huge pages, from Topology:Source.");
        command.Options.Add(json);
        command.SetAction(result => CliSupport.Guard(() =>
        {
            var topology = Load();
            if (result.GetValue(json)) { Console.Out.Write(Json(topology)); return Commands.Success; }
            Console.Out.Write(Text(topology));
            // What numatune can ask of this host's libvirt and kernel beyond the topology (docs/topology.md).
            if (topology.Nodes.Count(n => n.HasMemory) > 1)
            {
                var preferred = PreferredMany.Probe();
                Console.Out.WriteLine($"preferred on several nodes: {(preferred.Supported ? "yes" : "no")} " +
                    $"({preferred.Why})");
            }
            return Commands.Success;
        }));
        return command;
    }

    /// <summary>The topology from the configured source, with every detail (sockets, cores, siblings, huge
    /// pages).</summary>
    internal static HostTopology Load() => TopologyLoader.Load(CliSupport.LoadConfig(), CliSupport.Diag.Note);

    internal static string Text(HostTopology t)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"source: {t.Source}");
        sb.AppendLine($"nodes: {t.NodeIds} (with memory: {t.NodeIdsWithMemory})   CPUs: {t.CpuIds} (online: " +
            $"{t.OnlineCpuIds})");
        foreach (var node in t.Nodes)
        {
            var cpus = node.Cpus.Count == 0 ? "no CPUs" : $"CPUs {HostTopology.Describe(node.Cpus.Select(c => c.Id))}";
            var offline = node.Cpus.Where(c => !c.Online).Select(c => c.Id).ToList();
            if (offline.Count > 0) cpus += $" (offline: {CpuSet.Format(offline)})";
            var memory = node.HasMemory ? $"memory {node.Total.Readable()}, {node.Free.Readable()} free" : "no memory";
            sb.AppendLine($"node {node.Id}: {cpus}; {memory}");
            foreach (var pool in node.HugePages)
                sb.AppendLine($"  huge pages {new MemorySize(pool.SizeKiB).Readable()}: {pool.Total} configured, " +
                    $"{(pool.Free is long f ? f.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?")} " +
                    "free");
            foreach (var core in node.OnlineCpus
                .GroupBy(c => (c.Socket, c.Die, c.Core, Siblings: c.Siblings?.ToString()))
                .OrderBy(g => g.Min(c => c.Id)))
                sb.AppendLine($"  socket {core.Key.Socket?.ToString() ?? "?"} core " +
                    $"{core.Key.Core?.ToString() ?? "?"}: CPU {CpuSet.Format(core.Select(c => c.Id).Order())}");
        }
        return sb.ToString();
    }

    internal static string Json(HostTopology t) => JsonText.Text(w =>
        {
            w.WriteStartObject();
            w.WriteString("source", t.Source);
            w.WriteStartArray("nodes");
            foreach (var node in t.Nodes)
            {
                w.WriteStartObject();
                w.WriteNumber("id", node.Id);
                w.WriteNumber("memory_total_kib", node.Total.KiB);
                w.WriteNumber("memory_free_kib", node.Free.KiB);
                w.WriteStartArray("huge_pages");
                foreach (var pool in node.HugePages)
                {
                    w.WriteStartObject();
                    w.WriteNumber("size_kib", pool.SizeKiB);
                    w.WriteNumber("total", pool.Total);
                    w.WriteNumberOrNull("free", pool.Free);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartArray("cpus");
                foreach (var cpu in node.Cpus)
                {
                    w.WriteStartObject();
                    w.WriteNumber("id", cpu.Id);
                    w.WriteBoolean("online", cpu.Online);
                    w.WriteNumberOrNull("socket", cpu.Socket);
                    w.WriteNumberOrNull("die", cpu.Die);
                    w.WriteNumberOrNull("core", cpu.Core);
                    if (cpu.Siblings is { } s) w.WriteString("siblings", s.ToString()); else w.WriteNull("siblings");
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();

        });
}
