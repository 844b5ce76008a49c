using System.Globalization;
using System.Xml.Linq;
using Largeguest.Domain;
using Largeguest.Domain.Editors;
using Largeguest.Grammar;

namespace Largeguest.Tests.Domain;

/// <summary>The memnode merge of <see cref="NumaTuneEditor.ApplyMemNodes"/> on existing memnodes in any order,
/// duplicates included.</summary>
public class NumaTuneEditorTests
{
    private static int? CellId(XElement memnode) =>
        int.TryParse(((string?)memnode.Attribute("cellid"))?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture,
            out var id) ? id : null;

    /// <summary>
    /// The merge as it was before it was made one pass (each cell rescanned every memnode: 8192 cells took 20 s),
    /// kept as the reference the one-pass merge must equal.
    /// </summary>
    private static void QuadraticReference(XElement numatune, IReadOnlyList<MemNode> memNodes, int cellCount)
    {
        foreach (var stale in numatune.Elements("memnode")
            .Where(e => CellId(e) is not int id || id >= cellCount).ToList())
            XmlLayout.Remove(stale);
        foreach (var m in memNodes)
        {
            var id = m.CellId.ToString(CultureInfo.InvariantCulture);
            var element = numatune.Elements("memnode").FirstOrDefault(e => CellId(e) == m.CellId)
                ?? XmlLayout.AddChild(numatune, new XElement("memnode", new XAttribute("cellid", id)),
                    numatune.Elements("memnode").LastOrDefault(e => CellId(e) < m.CellId)
                        ?? numatune.Element("memory"));
            CpuTuneEditor.SetAttribute(element, "mode", m.Mode.Name());
            CpuTuneEditor.SetAttribute(element, "nodeset", m.NodeSet.ToString());
        }
    }

    [Fact]
    public void The_one_pass_merge_gives_what_the_quadratic_one_gave_on_small_domains()
    {
        var rng = new Random(20261203);
        var modes = Enum.GetValues<NumaMode>();
        for (var run = 0; run < 3000; run++)
        {
            // Old memnodes in any order, duplicated, padded, unparsable or beyond the cells; <memory> anywhere or
            // absent.
            var indent = rng.Next(2) == 0 ? "" : "\n    ";
            var children = new List<string>();
            for (var i = rng.Next(7); i > 0; i--)
            {
                var id = rng.Next(10) switch { 0 => "x", 1 => " 2 ",
                    _ => rng.Next(8).ToString(CultureInfo.InvariantCulture) };
                children.Add($"<memnode cellid='{id}' mode='strict' nodeset='{rng.Next(4)}'/>");
            }
            if (rng.Next(4) != 0) children.Insert(rng.Next(children.Count + 1),
                "<memory mode='preferred' nodeset='0'/>");
            var xml = $"<domain>{indent}<vcpu>8</vcpu>{indent}<numatune>" +
                $"{string.Concat(children.Select(c => indent + "  " + c))}{indent}</numatune>{indent}</domain>";
            var cellCount = 1 + rng.Next(8);
            var memNodes = Enumerable.Range(0, cellCount).Where(_ => rng.Next(3) != 0)
                .Select(id => new MemNode(id, modes[rng.Next(modes.Length)], CpuSet.Of([rng.Next(4)]))).ToList();

            var expected = DomainDocument.Parse(xml);
            QuadraticReference(expected.Root.Element("numatune")!, memNodes, cellCount);
            var actual = DomainDocument.Parse(xml);
            NumaTuneEditor.ApplyMemNodes(actual, memNodes, cellCount);
            actual.ToText().Should().Be(expected.ToText(),
                $"{xml} with memnodes {string.Join(", ", memNodes.Select(m => m.CellId))} of {cellCount} cells");
        }
    }
}
