using System.Xml;
using System.Xml.Linq;

namespace Largeguest.Domain;

/// <summary>The prefix a name was written with in the source (XLinq keeps only the namespace).</summary>
internal sealed record SourcePrefix(string Prefix);

/// <summary>The quote character an attribute was written with in the source. One document may mix them:
/// libvirt writes its own attributes with <c>'</c> but the <c>&lt;metadata&gt;</c> subtree as libxml2
/// re-serializes it, with <c>"</c>.</summary>
internal sealed record SourceQuote(char Quote);

/// <summary>
/// Builds an XDocument from an XmlReader, iteratively (any depth), remembering each element's and
/// attribute's source prefix so that two prefixes bound to one namespace both survive a rewrite, and
/// each attribute's quote character so that a document mixing quote styles is written back as read.
/// </summary>
internal static class XmlLoader
{
    private const string XmlnsUri = "http://www.w3.org/2000/xmlns/";

    public static XDocument Load(XmlReader reader)
    {
        var doc = new XDocument();
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
                        do element.Add(ReadAttribute(reader)); while (reader.MoveToNextAttribute());
                        reader.MoveToElement();
                    }
                    current.Add(element);
                    if (!empty) current = element;
                    break;
                case XmlNodeType.EndElement:
                    var closed = (XElement)current;
                    if (closed.IsEmpty) closed.Value = ""; // <a></a> stays <a></a>
                    current = (XContainer?)closed.Parent ?? doc;
                    break;
                case XmlNodeType.Text or XmlNodeType.Whitespace or XmlNodeType.SignificantWhitespace:
                    current.Add(new XText(reader.Value));
                    break;
                case XmlNodeType.CDATA: current.Add(new XCData(reader.Value)); break;
                case XmlNodeType.Comment: current.Add(new XComment(reader.Value)); break;
                case XmlNodeType.ProcessingInstruction: current.Add(new XProcessingInstruction(reader.Name, reader.Value)); break;
                case XmlNodeType.DocumentType: throw new DomainXmlException("a document type declaration is not allowed in domain XML");
            }
        }
        return doc;
    }

    private static XAttribute ReadAttribute(XmlReader reader)
    {
        XName name = reader.NamespaceURI == XmlnsUri
            ? reader.Prefix.Length == 0 ? "xmlns" : XNamespace.Xmlns + reader.LocalName
            : XNamespace.Get(reader.NamespaceURI) + reader.LocalName;
        var attribute = new XAttribute(name, reader.Value);
        if (reader.Prefix.Length > 0 && reader.NamespaceURI != XmlnsUri) attribute.AddAnnotation(new SourcePrefix(reader.Prefix));
        attribute.AddAnnotation(new SourceQuote(reader.QuoteChar));
        return attribute;
    }
}
