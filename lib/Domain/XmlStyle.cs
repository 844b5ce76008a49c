namespace Largeguest.Domain;

/// <summary>
/// How a document spells the things XML lets it spell freely, so that a rewrite changes only what it
/// edits: the attribute quote (libvirt writes <c>'</c>, VDSM's ElementTree <c>"</c>) and whether an
/// empty element is <c>&lt;a/&gt;</c> or <c>&lt;a /&gt;</c>.
/// </summary>
public sealed record XmlStyle(char Quote, bool SpaceBeforeSlash)
{
    public static readonly XmlStyle Libvirt = new('\'', false);

    public static XmlStyle Detect(string text)
    {
        int single = Count(text, "='"), dbl = Count(text, "=\"");
        int spaced = Count(text, " />"), tight = Count(text, "/>") - spaced;
        return new XmlStyle(dbl > single ? '"' : '\'', spaced > tight);
    }

    private static int Count(string text, string what)
    {
        int n = 0, at = 0;
        while ((at = text.IndexOf(what, at, StringComparison.Ordinal)) >= 0) { n++; at += what.Length; }
        return n;
    }
}
