namespace Largeguest.Domain;

/// <summary>
/// How a document spells the things XML lets it spell freely, so that a rewrite changes only what it
/// edits: the attribute quote (libvirt writes <c>'</c>, VDSM's ElementTree <c>"</c>) and whether an
/// empty element is <c>&lt;a/&gt;</c> or <c>&lt;a /&gt;</c>, and the line ending (LF, or CR LF when most lines
/// end so) that line breaks the hook inserts are written with.
/// </summary>
public sealed record XmlStyle(char Quote, bool SpaceBeforeSlash, string NewLine = "\n")
{
    public static readonly XmlStyle Libvirt = new('\'', false);

    public static XmlStyle Detect(ReadOnlySpan<byte> text)
    {
        int single = text.Count("='"u8), dbl = text.Count("=\""u8);
        int spaced = text.Count(" />"u8), tight = text.Count("/>"u8) - spaced;
        int crlf = text.Count("\r\n"u8), lf = text.Count((byte)'\n') - crlf;
        return new XmlStyle(dbl > single ? '"' : '\'', spaced > tight, crlf > lf ? "\r\n" : "\n");
    }
}
