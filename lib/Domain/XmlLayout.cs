using System.Xml.Linq;

namespace Largeguest.Domain;

/// <summary>
/// Inserts and removes elements the way a person editing the file would: a new child gets its
/// siblings' indentation on a line of its own, a removed element takes its indentation with it.
/// A document written on one line stays on one line.
/// </summary>
internal static class XmlLayout
{
    /// <summary>Adds <paramref name="child"/> to <paramref name="parent"/> after <paramref name="after"/> (default:
    /// last child element) and returns it.</summary>
    public static XElement AddChild(XElement parent, XElement child, XElement? after = null)
    {
        var multiline = IsMultiline(parent.Document?.Root ?? parent);
        var parentIndent = IndentOf(parent);
        var first = FirstElement(parent);
        var childIndent = first is not null && HasOwnLine(first) ? IndentOf(first) : parentIndent + IndentUnit(parent);
        after ??= LastElement(parent);
        if (!multiline)
        {
            if (after is not null) after.AddAfterSelf(child); else parent.Add(child);
        }
        else if (after is not null)
            after.AddAfterSelf(new XText("\n" + childIndent), child);
        else if (parent.FirstNode is null)
            parent.Add(new XText("\n" + childIndent), child, new XText("\n" + parentIndent));
        else
            parent.AddFirst(new XText("\n" + childIndent), child);
        return child;
    }

    /// <summary>Adds <paramref name="child"/> as the first child element of <paramref name="parent"/>.</summary>
    public static XElement AddFirstChild(XElement parent, XElement child)
    {
        var first = FirstElement(parent);
        if (first is null) return AddChild(parent, child);
        if (!IsMultiline(parent.Document?.Root ?? parent)) { first.AddBeforeSelf(child); return child; }
        first.AddBeforeSelf(child, new XText("\n" + IndentOf(first)));
        return child;
    }

    public static void Remove(XElement element)
    {
        if (element.PreviousNode is XText ws && string.IsNullOrWhiteSpace(ws.Value) && ws is not XCData) ws.Remove();
        element.Remove();
    }

    private static bool IsMultiline(XElement root)
    {
        for (var node = root.FirstNode; node is not null; node = node.NextNode)
            if (node is XText t && t.Value.Contains('\n')) return true;
        return false;
    }

    private static XElement? FirstElement(XElement parent, Func<XElement, bool>? where = null)
    {
        for (var node = parent.FirstNode; node is not null; node = node.NextNode)
            if (node is XElement e && (where is null || where(e))) return e;
        return null;
    }

    /// <summary>The last child element of <paramref name="parent"/> (named <paramref name="name"/>, when given), or
    /// null.</summary>
    public static XElement? LastElement(XElement parent, XName? name = null)
    {
        XElement? last = null;
        for (var node = parent.FirstNode; node is not null; node = node.NextNode)
            if (node is XElement e && (name is null || e.Name == name)) last = e;
        return last;
    }

    private static bool HasOwnLine(XElement e) => e.PreviousNode is XText t && t.Value.Contains('\n');

    private static string IndentOf(XElement e)
    {
        if (e.PreviousNode is not XText t || !string.IsNullOrWhiteSpace(t.Value)) return "";
        var nl = t.Value.LastIndexOf('\n');
        return nl < 0 ? "" : t.Value[(nl + 1)..];
    }

    /// <summary>The document's indentation step, read from the root's first child (two spaces if unknown).</summary>
    private static string IndentUnit(XElement near)
    {
        var root = near.Document?.Root ?? near;
        var first = FirstElement(root, HasOwnLine);
        var unit = first is null ? "" : IndentOf(first)[IndentOf(root).Length..];
        return unit.Length > 0 ? unit : "  ";
    }
}
