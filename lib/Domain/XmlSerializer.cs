using System.Buffers;
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
    /// <summary>Writes the children of <paramref name="container"/>: a depth-first walk over XLinq's own links,
    /// allocation-free.</summary>
    public static void Write(TextSink sb, XContainer container, XmlStyle style)
    {
        var node = container.FirstNode;
        while (node is not null)
        {
            if (node is XElement e)
            {
                sb.Append('<');
                WriteName(sb, e, e.Name, e, isAttribute: false);
                for (var a = e.FirstAttribute; a is not null; a = a.NextAttribute)
                    WriteAttribute(sb, e, a, style.Quote);
                if (e.IsEmpty) sb.Append(style.SpaceBeforeSlash ? " />" : "/>");
                else
                {
                    sb.Append('>');
                    if (e.FirstNode is { } first) { node = first; continue; }
                    WriteEndTag(sb, e);
                }
            }
            else WriteLeaf(sb, node, style.NewLine);

            // Next sibling; at the end of a child list, close the parents until one has a next sibling.
            for (var done = node; ;)
            {
                if (done.NextNode is { } next) { node = next; break; }
                if (done.Parent is not { } parent || parent == container) return;
                WriteEndTag(sb, parent);
                done = parent;
            }
        }
    }

    private static void WriteEndTag(TextSink sb, XElement e)
    {
        sb.Append("</");
        WriteName(sb, e, e.Name, e, isAttribute: false);
        sb.Append('>');
    }

    private static void WriteLeaf(TextSink sb, XNode node, string newLine)
    {
        switch (node)
        {
            case XCData c: sb.Append("<![CDATA[").Append(c.Value).Append("]]>"); break;
            case XText t when t.Annotation<SourceSpelling>() is { } s && s.Value == t.Value:
                sb.AppendUtf8(s.Raw.Span);
                break;
            case XText t: Escape(sb, t.Value, attributeQuote: null, newLine); break;
            case XComment c: sb.Append("<!--").Append(c.Value).Append("-->"); break;
            case XProcessingInstruction p:
                sb.Append("<?").Append(p.Target);
                if (p.Data.Length > 0) sb.Append(' ').Append(p.Data);
                sb.Append("?>");
                break;
            case XDocumentType:
                throw new DomainXmlException("a document type declaration is not allowed in domain XML");
        }
    }

    private static void WriteAttribute(TextSink sb, XElement owner, XAttribute a, char documentQuote)
    {
        var spelling = a.Annotation<SourceSpelling>();
        var quote = spelling?.Quote
            ?? documentQuote; // as read, also once edited; new attributes in the document's style
        sb.Append(' ');
        if (a.IsNamespaceDeclaration)
        {
            sb.Append("xmlns");
            if (a.Name.Namespace != XNamespace.None) sb.Append(':').Append(a.Name.LocalName);
        }
        else
            WriteName(sb, owner, a.Name, a, isAttribute: true);
        if (spelling is not null && spelling.Value == a.Value)
        {
            sb.Append('=').Append(quote).AppendUtf8(spelling.Raw.Span).Append(quote);
            return;
        }
        sb.Append('=').Append(quote);
        Escape(sb, a.Value, quote);
        sb.Append(quote);
    }

    private static void WriteName(TextSink sb, XElement scope, XName name, XObject node, bool isAttribute)
    {
        var prefix = Prefix(scope, name, node, isAttribute);
        if (prefix.Length > 0) sb.Append(prefix).Append(':');
        sb.Append(name.LocalName);
    }

    /// <summary>The prefix to write <paramref name="name"/> (of <paramref name="node"/>) with: as in the source, else
    /// as in scope ("" for none). The source's prefix is looked up only for a name in a namespace: most of a domain
    /// has none, and an annotation lookup per tag was a few percent of rewriting a 1 MiB domain.</summary>
    private static string Prefix(XElement scope, XName name, XObject node, bool isAttribute)
    {
        if (name.Namespace == XNamespace.None) return "";
        if (name.Namespace == XNamespace.Xml) return "xml";
        if (node.Annotation<SourcePrefix>() is { } source) return source.Prefix;
        var prefix = scope.GetPrefixOfNamespace(name.Namespace);
        if (prefix is null && !isAttribute && scope.GetDefaultNamespace() == name.Namespace) return "";
        return prefix ?? throw new DomainXmlException(
            $"namespace '{name.Namespace}' of '{name.LocalName}' has no prefix in scope");
    }

    /// <summary>The characters <see cref="Escape"/> may replace; the runs between them are copied as they
    /// are.</summary>
    private static readonly SearchValues<char> Special = SearchValues.Create("&<>\r\"'\n\t");

    private static void Escape(TextSink sb, string value, char? attributeQuote, string newLine = "\n")
    {
        var rest = value.AsSpan();
        while (true)
        {
            var next = rest.IndexOfAny(Special);
            if (next < 0) { sb.Append(rest); return; }
            sb.Append(rest[..next]);
            var ch = rest[next];
            rest = rest[(next + 1)..];
            switch (ch)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '\r': sb.Append("&#xD;"); break;
                case '"' when attributeQuote == '"': sb.Append("&quot;"); break;
                case '\'' when attributeQuote == '\'': sb.Append("&apos;"); break;
                case '\n' when attributeQuote is not null: sb.Append("&#xA;"); break;
                case '\n': sb.Append(newLine); break; // a text the hook wrote or edited: in the file's line ending
                case '\t' when attributeQuote is not null: sb.Append("&#x9;"); break;
                default: sb.Append(ch); break;
            }
        }
    }
}
