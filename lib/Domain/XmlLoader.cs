using System.Buffers;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Largeguest.Domain;

/// <summary>The prefix a name was written with in the source (XLinq keeps only the namespace).</summary>
internal sealed record SourcePrefix(string Prefix)
{
    /// <summary>Shared: most elements have no prefix, and 250,000 of them would each carry a copy.</summary>
    public static readonly SourcePrefix None = new("");
}

/// <summary>
/// How a text node or attribute value was spelled in the source, kept only where the serializer would
/// spell <see cref="Value"/> differently (character or entity references such as libvirt's
/// <c>&amp;quot;</c>, a literal <c>&gt;</c>, CR LF, an attribute quoted unlike the rest of the document:
/// libvirt writes its own attributes with <c>'</c> but the <c>&lt;metadata&gt;</c> subtree as libxml2
/// re-serializes it, with <c>"</c>).
/// Written back as is while the value is unchanged.
/// </summary>
internal sealed record SourceSpelling(string Value, ReadOnlyMemory<byte> Raw, char Quote = '\0');

/// <summary>
/// Builds an XDocument from an XmlReader over <paramref name="source"/> (valid UTF-8, no BOM), iteratively and in
/// linear time at any depth (an element joins its parent when it closes: XContainer.Add walks up to the root of
/// the tree it adds to, and an open element's tree is just itself), remembering each element's and attribute's source
/// prefix so that two prefixes bound to one namespace both survive a rewrite, and each text's and attribute's
/// <see cref="SourceSpelling"/>. Refuses, where the reader stands, a document beyond
/// <see cref="DomainDocument.MaxDepth"/>, <see cref="DomainDocument.MaxAttributesPerElement"/> or
/// <see cref="DomainDocument.MaxNodes"/>: the bounds that keep any file within the size cap to a fraction of a second
/// and a few tens of MiB (docs/grammar.md, "The XML file").
/// </summary>
internal static class XmlLoader
{
    private const string XmlnsUri = "http://www.w3.org/2000/xmlns/";

    public static XDocument Load(XmlReader reader, ReadOnlyMemory<byte> source, XmlStyle style)
    {
        CheckMarkup(source.Span);
        var offsets = new SourceOffsets(source, (IXmlLineInfo)reader, style.NewLine);
        var doc = new XDocument();
        var open = new Stack<XElement>();
        XContainer current = doc;
        var lineInfo = (IXmlLineInfo)reader;
        var nodes = 0;
        while (reader.Read())
        {
            if (reader.NodeType is not (XmlNodeType.EndElement or XmlNodeType.XmlDeclaration)
                    && ++nodes > DomainDocument.MaxNodes)
                throw Refusal(lineInfo,
                    $"more than {DomainDocument.MaxNodes:N0} nodes (elements, attributes, texts, comments)");
            switch (reader.NodeType)
            {
                case XmlNodeType.XmlDeclaration:
                    doc.Declaration = new XDeclaration(reader.GetAttribute("version"), reader.GetAttribute("encoding"),
                        reader.GetAttribute("standalone"));
                    break;
                case XmlNodeType.Element:
                    var element = new XElement(XNamespace.Get(reader.NamespaceURI) + reader.LocalName);
                    element.AddAnnotation(
                        reader.Prefix.Length == 0 ? SourcePrefix.None : new SourcePrefix(reader.Prefix));
                    var empty = reader.IsEmptyElement;
                    if (open.Count + 1 > DomainDocument.MaxDepth)
                        throw Refusal(lineInfo, $"elements nested more than {DomainDocument.MaxDepth} deep");
                    if ((nodes += reader.AttributeCount) > DomainDocument.MaxNodes)
                        throw Refusal(lineInfo,
                            $"more than {DomainDocument.MaxNodes:N0} nodes (elements, attributes, texts, comments)");
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
                case XmlNodeType.ProcessingInstruction:
                    current.Add(new XProcessingInstruction(reader.Name, reader.Value));
                    break;
                case XmlNodeType.DocumentType:
                    throw new DomainXmlException("a document type declaration is not allowed in domain XML");
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
    /// as written, in bytes, never less than the value's length in characters.
    /// </summary>
    private static void CheckMarkup(ReadOnlySpan<byte> source)
    {
        var from = 0;
        while (from < source.Length)
        {
            var next = source[from..].IndexOf((byte)'<');
            var at = next < 0 ? source.Length : from + next;
            CheckLength(source, from, at - from, "a text");
            if (at + 1 >= source.Length) return;
            var rest = source[at..];
            if (rest.StartsWith("<!--"u8)) from = Skip(source, at + 4, "-->"u8, "a comment");
            else if (rest.StartsWith("<![CDATA["u8)) from = Skip(source, at + 9, "]]>"u8, "a CDATA section");
            else if (rest.StartsWith("<?"u8)) from = Skip(source, at + 2, "?>"u8, "a processing instruction");
            else if (rest.StartsWith("<!"u8)) return;
            else from = CheckTag(source, at);
            if (from < 0) return; // unterminated: the reader says so
        }

        static int Skip(ReadOnlySpan<byte> source, int from, ReadOnlySpan<byte> terminator, string what)
        {
            var i = source[from..].IndexOf(terminator);
            CheckLength(source, from, i < 0 ? source.Length - from : i, what);
            return i < 0 ? -1 : from + i + terminator.Length;
        }
    }

    /// <summary>The bytes that end a name inside a tag (<see cref="CheckTag"/>).</summary>
    private static readonly SearchValues<byte> TagBytes = SearchValues.Create(" \t\r\n/>='\""u8);

    /// <summary>
    /// Counts the attributes of the tag at <paramref name="at"/> ('&lt;') and measures its values and names; returns
    /// the offset after it, or -1.
    /// </summary>
    private static int CheckTag(ReadOnlySpan<byte> source, int at)
    {
        var attributes = 0;
        var word = at + 1; // where the current name (element or attribute) started
        for (var i = at + 1; i < source.Length; i++)
        {
            switch (source[i])
            {
                case (byte)'>': return i + 1;
                case (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)'/': word = i + 1; break;
                case (byte)'=':
                    word = i + 1;
                    if (++attributes <= DomainDocument.MaxAttributesPerElement) break;
                    var name = source[(at + 1)..].IndexOfAny(" \t\r\n/>="u8);
                    throw Refusal(source, at + 1,
                        $"<{Encoding.UTF8.GetString(source.Slice(at + 1, name < 0 ? 0 : name))}> has more than " +
                        $"{DomainDocument.MaxAttributesPerElement:N0} attributes");
                case (byte)'\'' or (byte)'"':
                    var close = source[(i + 1)..].IndexOf(source[i]);
                    CheckLength(source, i + 1, close < 0 ? source.Length - i - 1 : close, "an attribute value");
                    if (close < 0) return -1;
                    i += close + 1;
                    word = i + 1;
                    break;
                default: // a name: to the byte that ends it in one vectorised search
                    var end = source[i..].IndexOfAny(TagBytes);
                    var stop = end < 0 ? source.Length : i + end;
                    CheckLength(source, word, stop - word, "a name");
                    i = stop - 1;
                    break;
            }
        }
        return -1;
    }

    private static void CheckLength(ReadOnlySpan<byte> source, int start, int length, string what)
    {
        if (length > DomainDocument.MaxValueBytes)
            throw Refusal(source, start, $"{what} of more than {DomainDocument.MaxValueBytes >> 20} MiB");
    }

    /// <summary>A refusal at an offset, with the reader's line and position (1-based, in characters, XML line
    /// breaks).</summary>
    private static DomainXmlException Refusal(ReadOnlySpan<byte> source, int offset, string what)
    {
        int line = 1, start = 0;
        for (var i = 0; i < offset; i++)
            if (source[i] == '\n' || (source[i] == '\r' && (i + 1 == source.Length || source[i + 1] != '\n')))
            {
                line++;
                start = i + 1;
            }
        return Refusal(line, Encoding.UTF8.GetCharCount(source[start..offset]) + 1, what);
    }

    /// <summary>A limit's refusal, naming where the reader stands (the element's start for an element's
    /// limits).</summary>
    private static DomainXmlException Refusal(IXmlLineInfo at, string what) =>
        Refusal(at.LineNumber, at.LinePosition, what);

    private static DomainXmlException Refusal(int line, int position, string what) =>
        new($"domain XML at line {line}, position {position}: {what}; refused (a limit far beyond any libvirt domain)");

    private static XAttribute ReadAttribute(XmlReader reader, SourceOffsets offsets, XmlStyle style)
    {
        XName name = reader.NamespaceURI == XmlnsUri
            ? reader.Prefix.Length == 0 ? "xmlns" : XNamespace.Xmlns + reader.LocalName
            : XNamespace.Get(reader.NamespaceURI) + reader.LocalName;
        var attribute = new XAttribute(name, reader.Value);
        if (reader.Prefix.Length > 0 && reader.NamespaceURI != XmlnsUri)
            attribute.AddAnnotation(new SourcePrefix(reader.Prefix));
        if (offsets.RawAttributeValue(attribute.Value, style.Quote) is var (raw, quote))
            attribute.AddAnnotation(new SourceSpelling(attribute.Value, raw, quote));
        return attribute;
    }

    /// <summary>
    /// Maps the reader's line/position (in characters) to offsets in the source bytes to read raw spellings. The
    /// reader only moves forward, so a cursor does: no table of every line (16 Mi line breaks would be 64 MiB of it),
    /// no rescan of a long line per node, and raw spellings are slices of the source, not copies.
    /// </summary>
    private sealed class SourceOffsets(ReadOnlyMemory<byte> source, IXmlLineInfo info, string newLine)
    {
        private int _line; // 0-based, starting at byte _lineStart
        private int _lineStart;
        private int _column; // characters from the line's start, ending at byte _columnByte
        private int _columnByte;

        private int Offset()
        {
            var text = source.Span;
            int line = info.LineNumber - 1, column = info.LinePosition - 1;
            if (line < 0 || column < 0) return -1;
            if (line < _line)
                (_line, _lineStart, _column, _columnByte) = (0, 0, 0, 0); // never seen; correct, only slower
            while (_line < line)
            {
                var br = text[_lineStart..].IndexOfAny((byte)'\r', (byte)'\n');
                if (br < 0) return -1;
                br += _lineStart;
                _lineStart = text[br] == '\r' && br + 1 < text.Length && text[br + 1] == '\n' ? br + 2 : br + 1;
                _line++;
                (_column, _columnByte) = (0, _lineStart);
            }
            if (column < _column) (_column, _columnByte) = (0, _lineStart);
            // The usual case, an ASCII stretch, in one vectorised check: a character per byte.
            if (column - _column is var ahead and > 0 && _columnByte + ahead <= text.Length
                && System.Text.Ascii.IsValid(text.Slice(_columnByte, ahead)))
                (_column, _columnByte) = (column, _columnByte + ahead);
            while (_column < column)
            {
                if (_columnByte >= text.Length) return -1;
                var lead = text[_columnByte];
                // UTF-8 (valid: checked before parsing): a 4-byte sequence is two UTF-16 characters.
                (var bytes, var chars) = lead < 0x80 ? (1, 1) : lead >= 0xF0 ? (4, 2) : lead >= 0xE0 ? (3, 1) : (2, 1);
                _columnByte += bytes;
                _column += chars;
            }
            return _column == column ? _columnByte : -1;
        }

        /// <summary>The current text node as written, if the serializer would write it differently.</summary>
        public ReadOnlyMemory<byte>? RawText(string value)
        {
            var start = Offset();
            if (start < 0 || start > source.Length) return null;
            var end = source.Span[start..].IndexOf((byte)'<');
            var raw = source.Slice(start, end < 0 ? source.Length - start : end);
            // In a CR LF file the serializer writes a line break as CR LF, so a bare LF is kept as spelled too.
            var special = newLine == "\n" ? raw.Span.IndexOfAny("&>\r"u8) : raw.Span.IndexOfAny("&>\r\n"u8);
            // Not 'raw : null': null would convert to an empty ReadOnlyMemory (through byte[]), not to no spelling.
            return special >= 0 && ReadsAs(raw.Span, value, attribute: false) ? raw : default(ReadOnlyMemory<byte>?);
        }

        /// <summary>The current attribute's value and quote as written, if the serializer would write them
        /// differently.</summary>
        public (ReadOnlyMemory<byte> Raw, char Quote)? RawAttributeValue(string value, char documentQuote)
        {
            var text = source.Span;
            var at = Offset();
            if (at < 0 || at > text.Length) return null;
            var eq = text[at..].IndexOf((byte)'=');
            if (eq < 0) return null;
            var open = at + eq + 1;
            while (open < text.Length && text[open] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') open++;
            if (open >= text.Length || text[open] is not ((byte)'\'' or (byte)'"')) return null;
            var quote = (char)text[open];
            var close = text[(open + 1)..].IndexOf(text[open]);
            if (close < 0) return null;
            var raw = source.Slice(open + 1, close);
            return (quote != documentQuote || raw.Span.IndexOfAny("&>\t\n\r"u8) >= 0)
                && ReadsAs(raw.Span, value, attribute: true)
                ? (raw, quote) : null;
        }

        /// <summary>Whether <paramref name="raw"/> reads back as <paramref name="value"/> (so a wrong offset can never
        /// corrupt output).</summary>
        private static bool ReadsAs(ReadOnlySpan<byte> raw, string value, bool attribute)
        {
            var j = 0;
            Span<char> chars = stackalloc char[2];
            for (var i = 0; i < raw.Length; i++)
            {
                var b = raw[i];
                int n;
                if (b == '\r' && i + 1 < raw.Length && raw[i + 1] == '\n') i++;
                if (b is (byte)'\r' or (byte)'\n') (chars[0], n) = (attribute ? ' ' : '\n', 1);
                else if (b == '\t' && attribute) (chars[0], n) = (' ', 1);
                else if (b == '&')
                {
                    var semi = raw[i..].IndexOf((byte)';');
                    if (semi < 0) return false;
                    var entity = raw.Slice(i + 1, semi - 1);
                    i += semi;
                    n = 1;
                    if (entity.SequenceEqual("lt"u8)) chars[0] = '<';
                    else if (entity.SequenceEqual("gt"u8)) chars[0] = '>';
                    else if (entity.SequenceEqual("amp"u8)) chars[0] = '&';
                    else if (entity.SequenceEqual("quot"u8)) chars[0] = '"';
                    else if (entity.SequenceEqual("apos"u8)) chars[0] = '\'';
                    else
                    {
                        var hex = entity.StartsWith("#x"u8);
                        if (!entity.StartsWith("#"u8) || !int.TryParse(entity[(hex ? 2 : 1)..],
                                hex
                                    ? System.Globalization.NumberStyles.AllowHexSpecifier
                                    : System.Globalization.NumberStyles.None,
                                System.Globalization.CultureInfo.InvariantCulture, out var code) || !Rune.IsValid(code))
                            return false;
                        n = new Rune(code).EncodeToUtf16(chars);
                    }
                }
                else if (b < 0x80) (chars[0], n) = ((char)b, 1);
                else
                {
                    if (Rune.DecodeFromUtf8(raw[i..], out var rune, out var consumed)
                            != System.Buffers.OperationStatus.Done)
                        return false;
                    n = rune.EncodeToUtf16(chars);
                    i += consumed - 1;
                }
                if (j + n > value.Length || value[j] != chars[0] || (n == 2 && value[j + 1] != chars[1])) return false;
                j += n;
            }
            return j == value.Length;
        }
    }
}
