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

    public static XmlStyle Detect(string text)
    {
        int single = Count(text, "='"), dbl = Count(text, "=\"");
        int spaced = Count(text, " />"), tight = Count(text, "/>") - spaced;
        int crlf = Count(text, "\r\n"), lf = Count(text, "\n") - crlf;
        return new XmlStyle(dbl > single ? '"' : '\'', spaced > tight, crlf > lf ? "\r\n" : "\n");
    }

    private static int Count(string text, string what)
    {
        int n = 0, at = 0;
        while ((at = text.IndexOf(what, at, StringComparison.Ordinal)) >= 0) { n++; at += what.Length; }
        return n;
    }
}
