using System.Text;
using Largeguest.Domain;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Domain;

/// <summary>The document is written back exactly as read: every spelling producers of domain XML use
/// survives.</summary>
public class DomainDocumentTests
{
    private static string RoundTrip(string xml) =>
        Encoding.UTF8.GetString(DomainDocument.Parse(Encoding.UTF8.GetBytes(xml)).ToBytes().Span);

    [Theory]
    // libvirt escapes quotes in text
    [InlineData("<domain type='kvm'><title>a &quot;b&quot; &apos;c&apos;</title></domain>")]
    [InlineData("<domain type='kvm'><title x='a &quot;b&quot; &apos;c&apos;'/></domain>")]
    // libvirt-dumped oVirt metadata
    [InlineData("<domain type='kvm'><metadata><v:vm xmlns:v=\"urn:v\" k=\"1\"/></metadata><x a='1'/></domain>")]
    // ElementTree leaves quotes alone in text
    [InlineData("<domain type=\"kvm\"><title x=\"it's\">it's</title></domain>")]
    [InlineData("<domain type='kvm'><t>a > b</t></domain>")]
    [InlineData("<domain type='kvm'><t>&#65;&#x42;&lt;&gt;&amp;</t></domain>")]
    [InlineData("<domain type='kvm'>\r\n  <t>x</t>\r\n</domain>\r\n")]
    // mostly CR LF: the odd bare LF stays as written
    [InlineData("<domain type='kvm'>\r\n  <t>x\ny</t>\n  <u/>\r\n</domain>\r\n")]
    [InlineData("<domain type='kvm'><t x='a&#10;b' y='a\tb'/></domain>")]
    [InlineData("<domain type='kvm'><t><![CDATA[x<y]]></t><?pi data?><u></u><v/></domain>")]
    [InlineData("<?xml version='1.0'?>\n<!-- c -->\n<domain type='kvm'><t xml:lang='en'/></domain>\n")]
    [InlineData("<domain type='kvm'><a:t xmlns:a='urn:a' xmlns:b='urn:a'><b:u b:k='1' a:k2='2'/></a:t></domain>")]
    [InlineData("<domain type='kvm'><t /><u /></domain>")]
    [InlineData("<domain type='kvm'><t>caf\u00e9 \u20ac \U0001F642</t></domain>")]
    [InlineData("<domain type='kvm'><t a=\"\u00e9\U0001F642\" b='x&#233;&amp;y'>\u00fc\U0001F642&amp;&#x1F600;</t><u " +
        "c=\"\u20ac\"/></domain>")] // spellings after multi-byte characters
    // a processing instruction, not the declaration
    [InlineData("<?xml-stylesheet type='text/xsl' href='d.xsl'?>\n<domain type='kvm'/>")]
    [InlineData("<?xml version='1.0'?>\n<?xml-stylesheet href='d.xsl'?>\n<domain type='kvm'/>")]
    public void Round_trips_byte_for_byte(string xml) => RoundTrip(xml).Should().Be(xml);

    [Theory]
    [InlineData("cputune")]
    [InlineData("numatune")]
    [InlineData("cpu")]
    [InlineData("vcpu")]
    public void A_second_element_libvirt_allows_once_is_refused_not_left_contradicting_the_edit(string name)
    {
        var xml = $"<domain type='kvm'><vcpu>4</vcpu><{name}/><{name}/></domain>".Replace("<vcpu/><vcpu/>",
            "<vcpu>2</vcpu>");
        FluentActions.Invoking(() => DomainDocument.Parse(Encoding.UTF8.GetBytes(xml)))
            .Should().Throw<DomainXmlException>()
                .WithMessage($"domain XML has 2 <{name}> elements; libvirt allows one*");
    }

    [Fact]
    public void Keeps_a_byte_order_mark()
    {
        byte[] xml = [0xEF, 0xBB, 0xBF, .. "<domain type='kvm'/>"u8];
        DomainDocument.Parse(xml).ToBytes().ToArray().Should().Equal(xml);
    }

    [Theory]
    [InlineData("<domain type='kvm'><t>", "not well-formed")]
    [InlineData("<vm type='kvm'/>", "root element is <vm>, expected <domain>")]
    [InlineData("<domain xmlns='urn:x' type='kvm'/>", "expected <domain>")]
    [InlineData("<?xml version='1.0' encoding='ISO-8859-1'?><domain/>", "declares encoding 'ISO-8859-1'")]
    [InlineData("<!DOCTYPE domain [<!ENTITY a 'x'>]><domain>&a;</domain>", "not well-formed")]
    [InlineData("<?xml version='1.0'", "unterminated XML declaration")]
    [InlineData("", "not well-formed")]
    public void Rejects_what_is_not_a_libvirt_domain(string xml, string message) =>
        FluentActions.Invoking(() => DomainDocument.Parse(Encoding.UTF8.GetBytes(xml)))
            .Should().Throw<DomainXmlException>().WithMessage($"*{message}*");

    [Fact]
    public void Rejects_bytes_that_are_not_utf8() =>
        FluentActions.Invoking(() => DomainDocument.Parse([.. "<domain><t>caf"u8, 0xE9, .. "</t></domain>"u8]))
            .Should().Throw<DomainXmlException>().WithMessage("*not valid UTF-8*");

    [Theory]
    [InlineData("<domain><vcpu current='2'>16</vcpu><memory>1024</memory></domain>", 16, 1024L)]
    [InlineData("<domain><vcpu> 8 </vcpu><memory unit='GiB'>2</memory></domain>", 8, 2097152L)]
    [InlineData("<domain><vcpu>1</vcpu><memory unit='MB'>1000</memory></domain>", 1, 976562L)]
    [InlineData("<domain><vcpu>1</vcpu><memory unit='b'>1073741824</memory></domain>", 1, 1048576L)]
    public void Reads_the_vcpu_maximum_and_memory_in_libvirt_units(string xml, int vcpus, long kib)
    {
        var doc = DomainDocument.Parse(xml);
        doc.MaxVcpus.Should().Be(vcpus);
        doc.Memory.KiB.Should().Be(kib);
    }

    [Fact]
    public void Reads_dimms_with_their_target_node()
    {
        var doc = DomainDocument.Parse(Fixtures.Read("ovirt-hotplug-libvirt.xml"));
        doc.Dimms.Should().Equal(new Dimm(new(2097152), 0, "dimm"), new Dimm(new(2097152), 1, "dimm"));
        doc.InitialMemory(doc.Dimms).KiB.Should().Be(8388608);
    }

    [Theory]
    [InlineData("<domain><memory>1</memory></domain>", "no <vcpu> element")]
    [InlineData("<domain><vcpu>0</vcpu></domain>", "<vcpu> '0' is not a positive number")]
    [InlineData("<domain><vcpu>x</vcpu></domain>", "<vcpu> 'x' is not a positive number")]
    public void Says_what_is_wrong_with_the_vcpu_element(string xml, string message) =>
        FluentActions.Invoking(() => DomainDocument.Parse(xml).MaxVcpus).Should().Throw<DomainXmlException>()
            .WithMessage($"*{message}*");

    [Theory]
    [InlineData("<domain><memory unit='KiB'>x</memory></domain>", "<memory> 'x' is not a whole number")]
    [InlineData("<domain><memory unit='parsecs'>1</memory></domain>", "unknown unit 'parsecs'")]
    [InlineData("<domain><memory unit='EiB'>100000</memory></domain>", "implausibly large")]
    [InlineData("<domain><vcpu>1</vcpu></domain>", "no <memory> element")]
    public void Says_what_is_wrong_with_the_memory_element(string xml, string message) =>
        FluentActions.Invoking(() => DomainDocument.Parse(xml).Memory).Should().Throw<DomainXmlException>()
            .WithMessage($"*{message}*");

    private static string Attributes(int count) => string.Join(" ", Enumerable.Range(0, count)
        .Select(i => $"a{i}='{i}'"));

    [Fact]
    public void The_limits_themselves_are_accepted()
    {
        var depth = DomainDocument.MaxDepth - 1; // <domain> is the first level
        var deep = "<domain>" + string.Concat(Enumerable.Repeat("<a>",
            depth)) + string.Concat(Enumerable.Repeat("</a>", depth)) + "</domain>";
        RoundTrip(deep).Should().Be(deep);
        var wide = $"<domain><x {Attributes(DomainDocument.MaxAttributesPerElement)}/></domain>";
        RoundTrip(wide).Should().Be(wide);
        // <domain> and its text: 2 nodes; each <a/> one more.
        var many = "<domain>x" + string.Concat(Enumerable.Repeat("<a/>", DomainDocument.MaxNodes - 2)) + "</domain>";
        RoundTrip(many).Should().Be(many);
        var longest = new string('n', DomainDocument.MaxValueBytes);
        var big = $"<domain><{longest} " +
            $"v='{longest}'>{longest}<!--{longest}--><![CDATA[{longest}]]><?{longest}?></{longest}></domain>";
        RoundTrip(big).Should().Be(big);
        var spelled = $"<domain x='{string.Concat(Enumerable.Repeat("&amp;", DomainDocument.MaxValueBytes / 5))}'/>";
        RoundTrip(spelled).Should().Be(spelled);
    }

    [Theory]
    [InlineData("depth", "domain XML at line 2, position 767: elements nested more than 256 deep; refused*")]
    [InlineData("attributes", "domain XML at line 2, position 2: <x> has more than 256 attributes; refused*")]
    [InlineData("attributes in a quoted '>'", "domain XML at line 2, position 2: <x> has more than 256 attributes; " +
        "refused*")]
    [InlineData("nodes", "domain XML at line 2, position *: more than 250,000 nodes (elements, attributes, texts, " +
        "comments); refused*")]
    [InlineData("nodes in attributes", "domain XML at line 2, position *: more than 250,000 nodes (elements, " +
        "attributes, texts, comments); refused*")]
    [InlineData("text", "domain XML at line 2, position 4: a text of more than 1 MiB; refused*")]
    [InlineData("attribute value", "domain XML at line 2, position 7: an attribute value of more than 1 MiB; refused*")]
    [InlineData("comment", "domain XML at line 2, position 5: a comment of more than 1 MiB; refused*")]
    [InlineData("CDATA", "domain XML at line 2, position 10: a CDATA section of more than 1 MiB; refused*")]
    [InlineData("element name", "domain XML at line 2, position 2: a name of more than 1 MiB; refused*")]
    [InlineData("attribute name", "domain XML at line 2, position 4: a name of more than 1 MiB; refused*")]
    public void Beyond_a_limit_is_refused_naming_the_limit_and_where(string what, string message)
    {
        var body = what switch
        {
            "depth" => string.Concat(Enumerable.Repeat("<a>", DomainDocument.MaxDepth)),
            "attributes" => $"<x {Attributes(DomainDocument.MaxAttributesPerElement + 1)}/>",
            "attributes in a quoted '>'" => $"<x q='>' {Attributes(DomainDocument.MaxAttributesPerElement)}/>",
            "nodes" => string.Concat(Enumerable.Repeat("<a/>", DomainDocument.MaxNodes)),
            "text" => "<x>" + new string('y', DomainDocument.MaxValueBytes + 1) + "</x>",
            "attribute value" => $"<x v='&amp;{new string('y', DomainDocument.MaxValueBytes - 4)}'/>",
            "comment" => $"<!--{new string('y', DomainDocument.MaxValueBytes + 1)}-->",
            "CDATA" => $"<![CDATA[{new string('y', DomainDocument.MaxValueBytes + 1)}]]>",
            "element name" => $"<{new string('y', DomainDocument.MaxValueBytes + 1)}/>",
            "attribute name" => $"<x {new string('y', DomainDocument.MaxValueBytes + 1)}='1'/>",
            _ => string.Concat(Enumerable.Repeat($"<x {Attributes(200)}/>", DomainDocument.MaxNodes / 200)),
        };
        // Comments, CDATA and processing instructions with '=' and '>' in them are not start tags.
        var xml = $"<?xml version='1.0'?><!-- {Attributes(300)} > --><domain><![CDATA[{Attributes(300)}>]]><?pi " +
            $"{Attributes(300)}?>\n{body}</domain>";
        FluentActions.Invoking(() => DomainDocument.Parse(xml)).Should().Throw<DomainXmlException>()
            .WithMessage(message);
    }
}
