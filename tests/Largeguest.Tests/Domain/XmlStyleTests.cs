using Largeguest.Domain;

namespace Largeguest.Tests.Domain;

/// <summary><see cref="XmlStyle.Detect"/>: the majority spelling of quotes, empty elements and line endings.</summary>
public class XmlStyleTests
{
    private static XmlStyle Detect(string xml) => XmlStyle.Detect(System.Text.Encoding.UTF8.GetBytes(xml));

    [Theory]
    [InlineData("<domain type='kvm'><vcpu placement='static'>4</vcpu><a/></domain>\n", '\'', false, "\n")]
    [InlineData("<domain type=\"kvm\">\n  <a />\n  <b x=\"1\" y='2' />\n</domain>\n", '"', true, "\n")]
    [InlineData("<domain type='kvm'>\r\n  <a />\r\n  <b/>\n  <c />\r\n</domain>", '\'', true, "\r\n")]
    [InlineData("<domain>\r\n<a/>\n<b/>\n</domain>\r\n", '\'', false, "\n")] // a tie keeps LF, the libvirt default
    [InlineData("<a x=\"1\" y='2'/>", '\'', false, "\n")]                    // a tie keeps the libvirt quote
    [InlineData("", '\'', false, "\n")]
    public void The_majority_spelling_wins(string xml, char quote, bool spaced, string newLine)
    {
        var style = Detect(xml);
        style.Quote.Should().Be(quote);
        style.SpaceBeforeSlash.Should().Be(spaced);
        style.NewLine.Should().Be(newLine);
    }

    [Theory]
    [InlineData("=")]          // '=' last: no quote to look at
    [InlineData(">\n")]        // '>' and LF first: no character before them
    [InlineData("/>")]         // a tight empty element, the default spelling
    [InlineData("x= 'a' y= \"b\" / > =")] // near misses count for nothing
    public void Marks_at_the_edges_are_read_safely_and_near_misses_count_for_nothing(string text)
    {
        Detect(text).Should().Be(new XmlStyle('\'', false, "\n"));
    }

    [Fact]
    public void Counts_every_occurrence_in_a_large_document_not_only_the_first()
    {
        // 3 double-quoted against 2 single-quoted attributes per block, repeated: the counts must add up
        // across the whole text.
        var block = "<a x=\"1\" y=\"2\" z=\"3\" p='4' q='5' />\r\n<b/>\n<c />\r\n";
        var style = Detect(string.Concat(Enumerable.Repeat(block, 20_000)));
        style.Should().Be(new XmlStyle('"', true, "\r\n"));
    }
}
