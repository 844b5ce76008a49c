using System.Xml;
using System.Xml.Linq;

namespace Largeguest.Domain;

/// <summary>The prefix a name was written with in the source (XLinq keeps only the namespace).</summary>
internal sealed record SourcePrefix(string Prefix);

/// <summary>
/// How a text node or attribute value was spelled in the source, kept only where the serializer would
/// spell <see cref="Value"/> differently (character or entity references such as libvirt's
/// <c>&amp;quot;</c>, a literal <c>&gt;</c>, CR LF, an attribute quoted unlike the rest of the document:
/// libvirt writes its own attributes with <c>'</c> but the <c>&lt;metadata&gt;</c> subtree as libxml2
/// re-serializes it, with <c>"</c>).
/// Written back as is while the value is unchanged.
/// </summary>
internal sealed record SourceSpelling(string Value, string Raw, char Quote = '\0');

/// <summary>
/// Builds an XDocument from an XmlReader over <paramref name="source"/>, iteratively and in linear
/// time at any depth (an element joins its parent when it closes: XContainer.Add walks up to the root of
/// the tree it adds to, and an open element's tree is just itself), remembering each element's and attribute's source prefix so that two prefixes bound to one
/// namespace both survive a rewrite, and each text's and attribute's <see cref="SourceSpelling"/>.
/// Refuses, where the reader stands, a document beyond <see cref="DomainDocument.MaxDepth"/>,
/// <see cref="DomainDocument.MaxAttributesPerElement"/> or <see cref="DomainDocument.MaxNodes"/>: the bounds that keep
/// any file within the size cap to a fraction of a second and a few tens of MiB (docs/grammar.md, "The XML file").
/// </summary>
internal static class XmlLoader
{
    private const string XmlnsUri = "http://www.w3.org/2000/xmlns/";

    public static XDocument Load(XmlReader reader, string source, XmlStyle style)
    {
        CheckAttributeCounts(source);
        var offsets = new SourceOffsets(source, (IXmlLineInfo)reader, style.NewLine);
        var doc = new XDocument();
        var open = new Stack<XElement>();
        XContainer current = doc;
        var lineInfo = (IXmlLineInfo)reader;
        var nodes = 0;
        while (reader.Read())
        {
            if (reader.NodeType is not (XmlNodeType.EndElement or XmlNodeType.XmlDeclaration) && ++nodes > DomainDocument.MaxNodes)
                throw Refusal(lineInfo, $"more than {DomainDocument.MaxNodes:N0} nodes (elements, attributes, texts, comments)");
            switch (reader.NodeType)
            {
                case XmlNodeType.XmlDeclaration:
                    doc.Declaration = new XDeclaration(reader.GetAttribute("version"), reader.GetAttribute("encoding"), reader.GetAttribute("standalone"));
                    break;
                case XmlNodeType.Element:
                    var element = new XElement(XNamespace.Get(reader.NamespaceURI) + reader.LocalName);
                    element.AddAnnotation(new SourcePrefix(reader.Prefix));
                    var empty = reader.IsEmptyElement;
                    if (open.Count + 1 > DomainDocument.MaxDepth)
                        throw Refusal(lineInfo, $"elements nested more than {DomainDocument.MaxDepth} deep");
                    if ((nodes += reader.AttributeCount) > DomainDocument.MaxNodes)
                        throw Refusal(lineInfo, $"more than {DomainDocument.MaxNodes:N0} nodes (elements, attributes, texts, comments)");
                    if (reader.MoveToFirstAttribute())
                    {
                        do element.Add(ReadAttribute(reader, offsets, style)); while (reader.MoveToNextAttribute());
                        reader.MoveToElement();
                    }
                    if (empty) current.Add(element);
                    else open.Push((XElement)(current = element));
                    break;
                case XmlNodeType.EndElement:
                    var closed = open.Pop();
                    if (closed.IsEmpty) closed.Value = ""; // <a></a> stays <a></a>
                    current = open.Count > 0 ? open.Peek() : doc;
                    current.Add(closed);
                    break;
                case XmlNodeType.Text or XmlNodeType.Whitespace or XmlNodeType.SignificantWhitespace:
                    var text = new XText(reader.Value);
                    if (offsets.RawText(text.Value) is { } raw) text.AddAnnotation(new SourceSpelling(text.Value, raw));
                    current.Add(text);
                    break;
                case XmlNodeType.CDATA: current.Add(new XCData(reader.Value)); break;
                case XmlNodeType.Comment: current.Add(new XComment(reader.Value)); break;
                case XmlNodeType.ProcessingInstruction: current.Add(new XProcessingInstruction(reader.Name, reader.Value)); break;
                case XmlNodeType.DocumentType: throw new DomainXmlException("a document type declaration is not allowed in domain XML");
            }
        }
        return doc;
    }

    /// <summary>
    /// Refuses an element with more than <see cref="DomainDocument.MaxAttributesPerElement"/> attributes before the
    /// reader sees it: XmlReader's own work on one start tag grows faster than linearly in its attributes (200,000 of
    /// them: 2.5 s before it returns the element). One linear pass over the markup: in well-formed XML each attribute
    /// of a start tag is one '=' outside its quoted values; comments, CDATA and processing instructions are skipped,
    /// and at a document type declaration the pass stops (the reader refuses the document there).
    /// </summary>
    private static void CheckAttributeCounts(string source)
    {
        var at = source.IndexOf('<');
        while (at >= 0 && at + 1 < source.Length)
        {
            var rest = source.AsSpan(at);
            int end;
            if (rest.StartsWith("<!--")) end = Skip(source, at + 4, "-->");
            else if (rest.StartsWith("<![CDATA[")) end = Skip(source, at + 9, "]]>");
            else if (rest.StartsWith("<?")) end = Skip(source, at + 2, "?>");
            else if (rest.StartsWith("<!")) return;
            else end = CheckStartTag(source, at);
            at = end < 0 ? -1 : source.IndexOf('<', end);
        }

        static int Skip(string source, int from, string terminator)
        {
            var i = source.IndexOf(terminator, from, StringComparison.Ordinal);
            return i < 0 ? -1 : i + terminator.Length;
        }
    }

    /// <summary>Counts the attributes of the tag at <paramref name="at"/> ('&lt;'); returns the offset after it, or -1.</summary>
    private static int CheckStartTag(string source, int at)
    {
        var attributes = 0;
        for (var i = at + 1; i < source.Length; i++)
        {
            switch (source[i])
            {
                case '>': return i + 1;
                case '=' when ++attributes > DomainDocument.MaxAttributesPerElement:
                    var name = source.AsSpan(at + 1).IndexOfAny(" \t\r\n/>=");
                    var (line, position) = LinePosition(source, at + 1);
                    throw Refusal(line, position,
                        $"<{source.AsSpan(at + 1, name < 0 ? 0 : name)}> has more than {DomainDocument.MaxAttributesPerElement:N0} attributes");
                case '\'' or '"':
                    i = source.IndexOf(source[i], i + 1);
                    if (i < 0) return -1;
                    break;
            }
        }
        return -1;
    }

    /// <summary>The reader's line and position (1-based, XML line breaks) of an offset, for a refusal.</summary>
    private static (int Line, int Position) LinePosition(string source, int offset)
    {
        int line = 1, start = 0;
        for (var i = 0; i < offset; i++)
            if (source[i] == '\n' || (source[i] == '\r' && (i + 1 == source.Length || source[i + 1] != '\n'))) { line++; start = i + 1; }
        return (line, offset - start + 1);
    }

    /// <summary>A limit's refusal, naming where the reader stands (the element's start for an element's limits).</summary>
    private static DomainXmlException Refusal(IXmlLineInfo at, string what) => Refusal(at.LineNumber, at.LinePosition, what);

    private static DomainXmlException Refusal(int line, int position, string what) =>
        new($"domain XML at line {line}, position {position}: {what}; refused (a limit far beyond any libvirt domain)");

    private static XAttribute ReadAttribute(XmlReader reader, SourceOffsets offsets, XmlStyle style)
    {
        XName name = reader.NamespaceURI == XmlnsUri
            ? reader.Prefix.Length == 0 ? "xmlns" : XNamespace.Xmlns + reader.LocalName
            : XNamespace.Get(reader.NamespaceURI) + reader.LocalName;
        var attribute = new XAttribute(name, reader.Value);
        if (reader.Prefix.Length > 0 && reader.NamespaceURI != XmlnsUri) attribute.AddAnnotation(new SourcePrefix(reader.Prefix));
        if (offsets.RawAttributeValue(attribute.Value, style.Quote) is var (raw, quote)) attribute.AddAnnotation(new SourceSpelling(attribute.Value, raw, quote));
        return attribute;
    }

    /// <summary>Maps the reader's line/position to offsets in the source text to read raw spellings.</summary>
    private sealed class SourceOffsets(string source, IXmlLineInfo info, string newLine)
    {
        private int[]? _lineStarts;

        private int Offset()
        {
            _lineStarts ??= LineStarts(source);
            var line = info.LineNumber - 1;
            return line >= 0 && line < _lineStarts.Length ? _lineStarts[line] + info.LinePosition - 1 : -1;
        }

        /// <summary>The current text node as written, if the serializer would write it differently.</summary>
        public string? RawText(string value)
        {
            var start = Offset();
            if (start < 0 || start > source.Length) return null;
            var end = source.IndexOf('<', start);
            var raw = source.AsSpan(start, (end < 0 ? source.Length : end) - start);
            // In a CR LF file the serializer writes a line break as CR LF, so a bare LF is kept as spelled too.
            var special = newLine == "\n" ? raw.IndexOfAny('&', '>', '\r') : raw.IndexOfAny("&>\r\n");
            return special >= 0 ? Verified(raw.ToString(), value, attribute: false) : null;
        }

        /// <summary>The current attribute's value and quote as written, if the serializer would write them differently.</summary>
        public (string Raw, char Quote)? RawAttributeValue(string value, char documentQuote)
        {
            var at = Offset();
            if (at < 0) return null;
            var eq = source.IndexOf('=', at);
            if (eq < 0) return null;
            var open = eq + 1;
            while (open < source.Length && source[open] is ' ' or '\t' or '\n' or '\r') open++;
            if (open >= source.Length || source[open] is not ('\'' or '"')) return null;
            var quote = source[open];
            var close = source.IndexOf(quote, open + 1);
            if (close < 0) return null;
            var raw = source.AsSpan(open + 1, close - open - 1);
            return (quote != documentQuote || raw.IndexOfAny("&>\t\n\r") >= 0) && Verified(raw.ToString(), value, attribute: true) is { } r
                ? (r, quote) : null;
        }

        /// <summary><paramref name="raw"/> if it reads back as <paramref name="value"/> (so a wrong offset can never corrupt output), else null.</summary>
        private static string? Verified(string raw, string value, bool attribute)
        {
            var sb = new System.Text.StringBuilder(raw.Length);
            for (var i = 0; i < raw.Length; i++)
            {
                var c = raw[i];
                if (c == '\r' && i + 1 < raw.Length && raw[i + 1] == '\n') i++;
                if (c is '\r' or '\n') { sb.Append(attribute ? ' ' : '\n'); continue; }
                if (c == '\t' && attribute) { sb.Append(' '); continue; }
                if (c != '&') { sb.Append(c); continue; }
                var semi = raw.IndexOf(';', i);
                if (semi < 0) return null;
                var entity = raw.AsSpan(i + 1, semi - i - 1);
                i = semi;
                switch (entity)
                {
                    case "lt": sb.Append('<'); break;
                    case "gt": sb.Append('>'); break;
                    case "amp": sb.Append('&'); break;
                    case "quot": sb.Append('"'); break;
                    case "apos": sb.Append('\''); break;
                    default:
                        var hex = entity.StartsWith("#x");
                        if (!entity.StartsWith("#") || !int.TryParse(entity[(hex ? 2 : 1)..],
                                hex ? System.Globalization.NumberStyles.AllowHexSpecifier : System.Globalization.NumberStyles.None,
                                System.Globalization.CultureInfo.InvariantCulture, out var code) || code is < 0 or > 0x10FFFF or (>= 0xD800 and <= 0xDFFF))
                            return null;
                        sb.Append(char.ConvertFromUtf32(code));
                        break;
                }
            }
            return sb.ToString() == value ? raw : null;
        }

        /// <summary>Offsets where lines start, with XML's line breaks (CR LF, CR, LF).</summary>
        private static int[] LineStarts(string text)
        {
            var starts = new List<int> { 0 };
            for (var i = 0; i < text.Length; i++)
                if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.Length || text[i + 1] != '\n'))) starts.Add(i + 1);
            return [.. starts];
        }
    }
}
