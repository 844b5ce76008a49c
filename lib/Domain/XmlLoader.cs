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
/// </summary>
internal static class XmlLoader
{
    private const string XmlnsUri = "http://www.w3.org/2000/xmlns/";

    public static XDocument Load(XmlReader reader, string source, XmlStyle style)
    {
        var offsets = new SourceOffsets(source, (IXmlLineInfo)reader, style.NewLine);
        var doc = new XDocument();
        var open = new Stack<XElement>();
        XContainer current = doc;
        while (reader.Read())
        {
            switch (reader.NodeType)
            {
                case XmlNodeType.XmlDeclaration:
                    doc.Declaration = new XDeclaration(reader.GetAttribute("version"), reader.GetAttribute("encoding"), reader.GetAttribute("standalone"));
                    break;
                case XmlNodeType.Element:
                    var element = new XElement(XNamespace.Get(reader.NamespaceURI) + reader.LocalName);
                    element.AddAnnotation(new SourcePrefix(reader.Prefix));
                    var empty = reader.IsEmptyElement;
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
