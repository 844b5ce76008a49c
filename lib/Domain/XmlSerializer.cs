using System.Text;
using System.Xml.Linq;

namespace Largeguest.Domain;

/// <summary>
/// Writes XLinq nodes back as text in a given <see cref="XmlStyle"/>. Iterative, so documents of any
/// depth are written without recursion. Unedited texts and attribute values come out as spelled in the
/// source (<see cref="SourceSpelling"/>); everything else (prefixes, namespace declarations, comments,
/// whitespace) as read.
/// </summary>
internal static class XmlSerializer
{
    public static void Write(StringBuilder sb, IEnumerable<XNode> nodes, XmlStyle style)
    {
        var stack = new Stack<(XNode? Node, XElement? Close)>();
        foreach (var n in nodes.Reverse()) stack.Push((n, null));
        while (stack.Count > 0)
        {
            var (node, close) = stack.Pop();
            if (close is not null) { sb.Append("</").Append(QName(close, close.Name)).Append('>'); continue; }
            switch (node)
            {
                case XElement e:
                    sb.Append('<').Append(QName(e, e.Name));
                    foreach (var a in e.Attributes()) WriteAttribute(sb, e, a, style.Quote);
                    if (e.IsEmpty) { sb.Append(style.SpaceBeforeSlash ? " />" : "/>"); break; }
                    sb.Append('>');
                    stack.Push((null, e));
                    foreach (var child in e.Nodes().Reverse()) stack.Push((child, null));
                    break;
                case XCData c: sb.Append("<![CDATA[").Append(c.Value).Append("]]>"); break;
                case XText t when t.Annotation<SourceSpelling>() is { } s && s.Value == t.Value: sb.Append(s.Raw); break;
                case XText t: Escape(sb, t.Value, attributeQuote: null); break;
                case XComment c: sb.Append("<!--").Append(c.Value).Append("-->"); break;
                case XProcessingInstruction p:
                    sb.Append("<?").Append(p.Target);
                    if (p.Data.Length > 0) sb.Append(' ').Append(p.Data);
                    sb.Append("?>");
                    break;
                case XDocumentType: throw new DomainXmlException("a document type declaration is not allowed in domain XML");
            }
        }
    }

    private static void WriteAttribute(StringBuilder sb, XElement owner, XAttribute a, char documentQuote)
    {
        var spelling = a.Annotation<SourceSpelling>();
        var quote = spelling?.Quote ?? documentQuote; // as read, also once edited; new attributes in the document's style
        sb.Append(' ');
        if (a.IsNamespaceDeclaration)
            sb.Append(a.Name.Namespace == XNamespace.None ? "xmlns" : "xmlns:" + a.Name.LocalName);
        else
            sb.Append(QName(owner, a.Name, isAttribute: true));
        if (spelling is not null && spelling.Value == a.Value)
        {
            sb.Append('=').Append(quote).Append(spelling.Raw).Append(quote);
            return;
        }
        sb.Append('=').Append(quote);
        Escape(sb, a.Value, quote);
        sb.Append(quote);
    }

    private static string QName(XElement scope, XName name, bool isAttribute = false)
    {
        if (name.Namespace == XNamespace.None) return name.LocalName;
        if (name.Namespace == XNamespace.Xml) return "xml:" + name.LocalName;
        var source = isAttribute
            ? scope.Attribute(name)?.Annotation<SourcePrefix>()
            : scope.Name == name ? scope.Annotation<SourcePrefix>() : null;
        if (source is not null) return source.Prefix.Length == 0 ? name.LocalName : source.Prefix + ":" + name.LocalName;
        var prefix = scope.GetPrefixOfNamespace(name.Namespace);
        if (prefix is null && !isAttribute && scope.GetDefaultNamespace() == name.Namespace) return name.LocalName;
        if (prefix is null)
            throw new DomainXmlException($"namespace '{name.Namespace}' of '{name.LocalName}' has no prefix in scope");
        return prefix + ":" + name.LocalName;
    }

    private static void Escape(StringBuilder sb, string value, char? attributeQuote)
    {
        foreach (var ch in value)
        {
            switch (ch)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '\r': sb.Append("&#xD;"); break;
                case '"' when attributeQuote == '"': sb.Append("&quot;"); break;
                case '\'' when attributeQuote == '\'': sb.Append("&apos;"); break;
                case '\n' when attributeQuote is not null: sb.Append("&#xA;"); break;
                case '\t' when attributeQuote is not null: sb.Append("&#x9;"); break;
                default: sb.Append(ch); break;
            }
        }
    }
}
