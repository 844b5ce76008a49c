using System.Buffers;

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

    private static readonly SearchValues<char> Marks = SearchValues.Create("=>\n");

    /// <summary>
    /// One pass over the characters that decide (<c>=</c>, <c>&gt;</c>, LF), looking at their neighbours:
    /// <c>='</c> against <c>="</c>, <c> /&gt;</c> against <c>/&gt;</c>, CR LF against LF. A 1 MiB domain is
    /// read once, not six times.
    /// </summary>
    public static XmlStyle Detect(ReadOnlySpan<char> text)
    {
        int single = 0, dbl = 0, spaced = 0, tight = 0, crlf = 0, lf = 0;
        for (var i = text.IndexOfAny(Marks); i >= 0;)
        {
            switch (text[i])
            {
                case '=' when i + 1 < text.Length:
                    if (text[i + 1] == '\'') single++;
                    else if (text[i + 1] == '"') dbl++;
                    break;
                case '>' when i > 0 && text[i - 1] == '/':
                    if (i > 1 && text[i - 2] == ' ') spaced++; else tight++;
                    break;
                case '\n':
                    if (i > 0 && text[i - 1] == '\r') crlf++; else lf++;
                    break;
            }
            var next = text[(i + 1)..].IndexOfAny(Marks);
            i = next < 0 ? -1 : i + 1 + next;
        }
        return new XmlStyle(dbl > single ? '"' : '\'', spaced > tight, crlf > lf ? "\r\n" : "\n");
    }
}
