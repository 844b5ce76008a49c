using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Largeguest.Grammar;
using Largeguest.Host.Libvirt;

namespace Largeguest.Host;

/// <summary>
/// Reads the host topology through libvirt: <c>virConnectGetCapabilities</c> for nodes, CPUs and page pools,
/// <c>virNodeGetCellsFreeMemory</c> and <c>virNodeGetFreePages</c> per cell for what is free. Parsing is
/// separate from the calls (<see cref="ParseCapabilities"/>), so it is tested on any capabilities text.
/// </summary>
public static class LibvirtTopologyReader
{
    /// <param name="freePages">Whether free huge pages are needed (one more libvirt call per node; the hook asks only
    /// for a huge-page guest).</param>
    public static HostTopology Read(string uri, bool freePages = true)
    {
        using var connect = Connect.OpenReadOnly(uri);
        var topology = ParseCapabilities(connect.GetCapabilities(), $"libvirt {uri}");
        var nodes = new List<HostNode>();
        foreach (var node in topology.Nodes)
        {
            // One call per cell: node ids may have holes, and a range call would fail on the missing ones.
            var free = Node.GetCellsFreeMemory(connect, node.Id, 1);
            var pages = node.HugePages;
            if (freePages && pages.Count > 0)
            {
                try
                {
                    var counts = Node.GetFreePages(connect, [.. pages.Select(p => (uint)p.SizeKiB)], node.Id, 1)[0];
                    pages = [.. pages.Select((p, i) => p with { Free = (long)counts[i] })];
                }
                catch (LibvirtException) { /* driver without free-page support: free stays unknown */ }
            }
            nodes.Add(node with { Free = new MemorySize(free.Length == 1 ? (long)(free[0] / 1024) : 0),
                HugePages = pages });
        }
        return topology with { Nodes = nodes };
    }

    /// <summary>
    /// The model from capabilities XML (free memory zero, free pages unknown: the caller adds them).
    /// A <c>&lt;cpu&gt;</c> without <c>siblings</c> is an offline CPU (libvirt knows no topology for it);
    /// a cell without <c>&lt;memory&gt;</c> or with 0 is memoryless; page pools larger than the base page are huge
    /// pages.
    /// </summary>
    public static HostTopology ParseCapabilities(string xml, string source)
    {
        XDocument doc;
        try
        {
            using var reader = XmlReader.Create(new StringReader(xml),
                new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
            doc = XDocument.Load(reader);
        }
        catch (XmlException e)
        {
            throw new TopologyException($"{source}: capabilities are not well-formed XML: {e.Message}");
        }
        var host = doc.Root?.Element("host") ?? throw new TopologyException($"{source}: capabilities have no <host>");
        var cells = host.Element("topology")?.Element("cells")?.Elements("cell").ToList() ?? [];
        if (cells.Count == 0) throw new TopologyException($"{source}: capabilities have no <topology><cells> " +
            "(libvirt without NUMA information)");

        var sizes = host.Element("cpu")?.Elements("pages").Select(p => PageSize(p, source))
            .Concat(cells.SelectMany(c => c.Elements("pages")).Select(p => PageSize(p, source))).ToList() ?? [];
        var basePage = sizes.Count > 0 ? sizes.Min() : 4;

        var nodes = cells.Select(cell =>
        {
            var id = Int(cell, "id", source) ?? throw new TopologyException($"{source}: a <cell> has no id");
            var memory = cell.Element("memory") is { } m ? Memory(m, source) : new MemorySize(0);
            var cpus = cell.Element("cpus")?.Elements("cpu").Select(c => Cpu(c, source))
                .OrderBy(c => c.Id).ToList() ?? [];
            var pages = cell.Elements("pages")
                .Select(p => new PagePool(PageSize(p, source), Count(p, source), null))
                .Where(p => p.SizeKiB > basePage).OrderBy(p => p.SizeKiB).ToList();
            return new HostNode(id, cpus, memory, new MemorySize(0), pages);
        }).OrderBy(n => n.Id).ToList();
        return new HostTopology(nodes, source);
    }

    private static HostCpu Cpu(XElement cpu, string source)
    {
        var id = Int(cpu, "id", source) ?? throw new TopologyException($"{source}: a <cpu> has no id");
        var siblings = (string?)cpu.Attribute("siblings");
        if (string.IsNullOrWhiteSpace(siblings)) return new HostCpu(id, Online: false);
        CpuSet set;
        try { set = CpuSet.Parse(siblings); }
        catch (SyntaxException e) { throw new TopologyException($"{source}: cpu {id} siblings: {e.Problem}"); }
        return new HostCpu(id, true, Int(cpu, "socket_id", source),
            Int(cpu, "die_id", source), Int(cpu, "core_id", source), set);
    }

    private static MemorySize Memory(XElement element, string source)
    {
        return LibvirtUnits.ToMemory(element.Value, (string?)element.Attribute("unit"),
            $"{source}: cell memory", m => new TopologyException(m));
    }

    private static long PageSize(XElement pages, string source)
    {
        var size = (string?)pages.Attribute("size") ?? throw new TopologyException($"{source}: <pages> without size");
        return LibvirtUnits.ToMemory(size, (string?)pages.Attribute("unit"),
            $"{source}: page size", m => new TopologyException(m)).KiB;
    }

    private static long Count(XElement pages, string source) =>
        long.TryParse(pages.Value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : throw new TopologyException($"{source}: page count '{pages.Value.Trim()}' is not a number");

    private static int? Int(XElement e, string name, string source)
    {
        var text = ((string?)e.Attribute(name))?.Trim();
        if (text is null) return null;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : throw new TopologyException($"{source}: <{e.Name.LocalName}> {name}='{text}' is not a number");
    }
}
