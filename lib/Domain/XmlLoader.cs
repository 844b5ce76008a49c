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
internal sealed record SourceSpelling(string Value, ReadOnlyMemory<char> Raw, char Quote = '\0');

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
        CheckMarkup(source);
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
    /// The limits XmlReader would pay for before we see the node, checked in one linear pass over the markup first:
    /// its work on one start tag grows faster than linearly in the attributes (200,000 of them: 2.5 s before it
    /// returns the element), and it holds a text, value or name twice over (its buffer and the string) before
    /// returning it. In well-formed XML each attribute of a start tag is one '=' outside its quoted values, and what
    /// lies between markup is one text node; comments, CDATA and processing instructions are measured and skipped,
    /// and at a document type declaration the pass stops (the reader refuses the document there). The lengths are
    /// as written, never less than the value's.
    /// </summary>
    private static void CheckMarkup(string source)
    {
        var from = 0;
        while (from < source.Length)
        {
            var at = source.IndexOf('<', from);
            CheckLength(source, from, (at < 0 ? source.Length : at) - from, "a text");
            if (at < 0 || at + 1 == source.Length) return;
            var rest = source.AsSpan(at);
            if (rest.StartsWith("<!--")) from = Skip(source, at + 4, "-->", "a comment");
            else if (rest.StartsWith("<![CDATA[")) from = Skip(source, at + 9, "]]>", "a CDATA section");
            else if (rest.StartsWith("<?")) from = Skip(source, at + 2, "?>", "a processing instruction");
            else if (rest.StartsWith("<!")) return;
            else from = CheckTag(source, at);
            if (from < 0) return; // unterminated: the reader says so
        }

        static int Skip(string source, int from, string terminator, string what)
        {
            var i = source.IndexOf(terminator, from, StringComparison.Ordinal);
            CheckLength(source, from, (i < 0 ? source.Length : i) - from, what);
            return i < 0 ? -1 : i + terminator.Length;
        }
    }

    /// <summary>
    /// Counts the attributes of the tag at <paramref name="at"/> ('&lt;') and measures its values and names; returns
    /// the offset after it, or -1.
    /// </summary>
    private static int CheckTag(string source, int at)
    {
        var attributes = 0;
        var word = at + 1; // where the current name (element or attribute) started
        for (var i = at + 1; i < source.Length; i++)
        {
            switch (source[i])
            {
                case '>': return i + 1;
                case ' ' or '\t' or '\r' or '\n' or '/': word = i + 1; break;
                case '=':
                    word = i + 1;
                    if (++attributes <= DomainDocument.MaxAttributesPerElement) break;
                    var name = source.AsSpan(at + 1).IndexOfAny(" \t\r\n/>=");
                    throw Refusal(source, at + 1,
                        $"<{source.AsSpan(at + 1, name < 0 ? 0 : name)}> has more than {DomainDocument.MaxAttributesPerElement:N0} attributes");
                case '\'' or '"':
                    var close = source.IndexOf(source[i], i + 1);
                    CheckLength(source, i + 1, (close < 0 ? source.Length : close) - i - 1, "an attribute value");
                    if (close < 0) return -1;
                    i = close;
                    word = i + 1;
                    break;
                default:
                    if (i - word >= DomainDocument.MaxValueChars) CheckLength(source, word, i - word + 1, "a name");
                    break;
            }
        }
        return -1;
    }

    private static void CheckLength(string source, int start, int length, string what)
    {
        if (length > DomainDocument.MaxValueChars)
            throw Refusal(source, start, $"{what} of more than {DomainDocument.MaxValueChars:N0} characters");
    }

    private static DomainXmlException Refusal(string source, int offset, string what)
    {
        var (line, position) = LinePosition(source, offset);
        return Refusal(line, position, what);
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

    /// <summary>
    /// Maps the reader's line/position to offsets in the source text to read raw spellings. The reader only moves
    /// forward, so a cursor on the current line's start does: no table of every line (16 Mi line breaks would be
    /// 64 MiB of it), and raw spellings are slices of the source, not copies.
    /// </summary>
    private sealed class SourceOffsets(string source, IXmlLineInfo info, string newLine)
    {
        private int _line; // 0-based, starting at _lineStart
        private int _lineStart;

        private int Offset()
        {
            var line = info.LineNumber - 1;
            if (line < 0) return -1;
            if (line < _line) (_line, _lineStart) = (0, 0); // never seen; correct, only slower
            while (_line < line)
            {
                var br = source.AsSpan(_lineStart).IndexOfAny('\r', '\n');
                if (br < 0) return -1;
                br += _lineStart;
                _lineStart = source[br] == '\r' && br + 1 < source.Length && source[br + 1] == '\n' ? br + 2 : br + 1;
                _line++;
            }
            return _lineStart + info.LinePosition - 1;
        }

        /// <summary>The current text node as written, if the serializer would write it differently.</summary>
        public ReadOnlyMemory<char>? RawText(string value)
        {
            var start = Offset();
            if (start < 0 || start > source.Length) return null;
            var end = source.IndexOf('<', start);
            var raw = source.AsMemory(start, (end < 0 ? source.Length : end) - start);
            // In a CR LF file the serializer writes a line break as CR LF, so a bare LF is kept as spelled too.
            var special = newLine == "\n" ? raw.Span.IndexOfAny('&', '>', '\r') : raw.Span.IndexOfAny("&>\r\n");
            // Not 'raw : null': null would convert to an empty ReadOnlyMemory (through char[]), not to no spelling.
            return special >= 0 && ReadsAs(raw.Span, value, attribute: false) ? raw : default(ReadOnlyMemory<char>?);
        }

        /// <summary>The current attribute's value and quote as written, if the serializer would write them differently.</summary>
        public (ReadOnlyMemory<char> Raw, char Quote)? RawAttributeValue(string value, char documentQuote)
        {
            var at = Offset();
            if (at < 0 || at > source.Length) return null;
            var eq = source.IndexOf('=', at);
            if (eq < 0) return null;
            var open = eq + 1;
            while (open < source.Length && source[open] is ' ' or '\t' or '\n' or '\r') open++;
            if (open >= source.Length || source[open] is not ('\'' or '"')) return null;
            var quote = source[open];
            var close = source.IndexOf(quote, open + 1);
            if (close < 0) return null;
            var raw = source.AsMemory(open + 1, close - open - 1);
            return (quote != documentQuote || raw.Span.IndexOfAny("&>\t\n\r") >= 0) && ReadsAs(raw.Span, value, attribute: true)
                ? (raw, quote) : null;
        }

        /// <summary>Whether <paramref name="raw"/> reads back as <paramref name="value"/> (so a wrong offset can never corrupt output).</summary>
        private static bool ReadsAs(ReadOnlySpan<char> raw, string value, bool attribute)
        {
            var j = 0;
            Span<char> pair = stackalloc char[2];
            for (var i = 0; i < raw.Length; i++)
            {
                var c = raw[i];
                if (c == '\r' && i + 1 < raw.Length && raw[i + 1] == '\n') i++;
                if (c is '\r' or '\n') c = attribute ? ' ' : '\n';
                else if (c == '\t' && attribute) c = ' ';
                else if (c == '&')
                {
                    var semi = raw[i..].IndexOf(';');
                    if (semi < 0) return false;
                    var entity = raw.Slice(i + 1, semi - 1);
                    i += semi;
                    switch (entity)
                    {
                        case "lt": c = '<'; break;
                        case "gt": c = '>'; break;
                        case "amp": c = '&'; break;
                        case "quot": c = '"'; break;
                        case "apos": c = '\''; break;
                        default:
                            var hex = entity.StartsWith("#x");
                            if (!entity.StartsWith("#") || !int.TryParse(entity[(hex ? 2 : 1)..],
                                    hex ? System.Globalization.NumberStyles.AllowHexSpecifier : System.Globalization.NumberStyles.None,
                                    System.Globalization.CultureInfo.InvariantCulture, out var code) || !System.Text.Rune.IsValid(code))
                                return false;
                            var n = new System.Text.Rune(code).EncodeToUtf16(pair);
                            if (n == 2)
                            {
                                if (j + 1 >= value.Length || value[j] != pair[0] || value[j + 1] != pair[1]) return false;
                                j += 2;
                                continue;
                            }
                            c = pair[0];
                            break;
                    }
                }
                if (j >= value.Length || value[j++] != c) return false;
            }
            return j == value.Length;
        }
    }
}
