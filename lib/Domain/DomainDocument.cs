using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using Largeguest.Grammar;

namespace Largeguest.Domain;

/// <summary>A hot-pluggable memory device (<c>&lt;devices&gt;&lt;memory&gt;</c>) and the guest cell it
/// targets.</summary>
public sealed record Dimm(MemorySize Size, int? TargetNode, string Model);

/// <summary>
/// The guest's CPU topology (<c>&lt;cpu&gt;&lt;topology sockets dies clusters cores threads/&gt;</c>; a missing
/// attribute is 1). vCPU ids run socket by socket, die by die, cluster by cluster, core by core, thread by thread
/// (QEMU's order): vCPU v is thread <c>v % Threads</c> of core <c>v / Threads</c>, and so on.
/// </summary>
public sealed record GuestCpuTopology(int Sockets, int Dies, int Clusters, int Cores, int Threads)
{
    /// <summary>The vCPUs the topology describes; saturates instead of overflowing on hostile attribute
    /// values.</summary>
    public long Vcpus => new long[] { Sockets, Dies, Clusters, Cores, Threads }
        .Aggregate(1L, (acc, n) => acc > int.MaxValue || n > int.MaxValue ? long.MaxValue : acc * n);

    // Meaningful (and within int) once Vcpus equals the domain's vCPU count, which the checks require first.
    public int VcpusPerCore => Threads;
    public int VcpusPerDie => Clusters * Cores * Threads;
    public int VcpusPerSocket => Dies * VcpusPerDie;

    /// <summary>As libvirt writes it, for messages: <c>sockets='4' cores='2' threads='2'</c> (dies and clusters when
    /// not 1).</summary>
    public override string ToString() =>
        $"sockets='{Sockets}'{(Dies != 1 ? $" dies='{Dies}'" : "")}{(Clusters != 1 ? $" clusters='{Clusters}'" : "")}" +
        $" cores='{Cores}' threads='{Threads}'";
}

/// <summary>
/// A libvirt domain document as VDSM handed it over: parsed without DTDs or external entities, edited
/// in place by the editors, and written back in its own style (<see cref="XmlStyle"/>) with its own
/// XML declaration, so that only the edited elements change.
/// </summary>
public sealed class DomainDocument
{
    /// <summary>No real domain comes near this; it bounds the memory a hostile file can claim.</summary>
    public const long MaxChars = 16L * 1024 * 1024;

    /// <summary>
    /// Element nesting, the root counting 1: libvirt's own parser (libxml2) refuses a domain nested deeper
    /// ("Excessive depth in document: 256"), and real domains stay below 10.
    /// </summary>
    public const int MaxDepth = 256;

    /// <summary>
    /// Attributes on one element: real domains have fewer than 10. XLinq checks each new attribute against the
    /// element's others (quadratic in the count), so with <see cref="MaxNodes"/> this bounds that work on any file to
    /// ~30 million comparisons (with 1,000, 240 such elements took 0.7 s).
    /// </summary>
    public const int MaxAttributesPerElement = 256;

    /// <summary>
    /// Elements, attributes, texts, comments and processing instructions together: a real domain has a few hundred,
    /// a 1 MiB domain with 512 vCPUs and 64 cells about 65,000; this bounds the tree a 16 MiB file can build
    /// (XLinq spends about 100 bytes per node) to ~25 MiB.
    /// </summary>
    public const int MaxNodes = 250_000;

    /// <summary>
    /// One text, attribute value, comment, CDATA section, processing instruction or name, in bytes as written: real
    /// domains' longest are a few KiB (certificates, command lines). XmlReader holds such a node twice before
    /// returning it, so without this one 16 MiB text would cost 64 MiB.
    /// </summary>
    public const int MaxValueBytes = 1 << 20;

    private static readonly UTF8Encoding StrictUtf8 =
        new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Elements the hook reads or edits that libvirt allows once per domain.</summary>
    private static readonly string[] Singletons = ["vcpu", "memory", "cputune", "numatune", "cpu"];

    private readonly string _declaration;
    private readonly bool _bom;
    private readonly int _sourceLength;

    public XDocument Xml { get; }
    public XElement Root => Xml.Root!;
    public XmlStyle Style { get; }

    private DomainDocument(XDocument xml, string declaration, bool bom, XmlStyle style, int sourceLength)
    {
        _sourceLength = sourceLength;
        Xml = xml;
        _declaration = declaration;
        _bom = bom;
        Style = style;
    }

    /// <summary>Parses the file's bytes; the document keeps them (raw spellings are slices of them), not a
    /// copy.</summary>
    public static DomainDocument Parse(byte[] bytes)
    {
        var bom = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]);
        return ParseUtf8(bom ? bytes.AsMemory(3) : bytes, bom);
    }

    public static DomainDocument Parse(ReadOnlySpan<byte> bytes) => Parse(bytes.ToArray());

    public static DomainDocument Parse(string text, bool bom = false)
    {
        byte[] bytes;
        try { bytes = StrictUtf8.GetBytes(text); }
        catch (EncoderFallbackException)
        {
            throw new DomainXmlException("domain XML is not valid text (a lone surrogate)");
        }
        return ParseUtf8(bytes, bom);
    }

    /// <summary>
    /// The reader decodes the bytes as it goes, so the document is never held as one string as well (twice its
    /// size in UTF-16: 32 MiB of peak RSS for a 16 MiB file).
    /// </summary>
    private static DomainDocument ParseUtf8(ReadOnlyMemory<byte> source, bool bom)
    {
        var text = source.Span;
        if (!System.Text.Unicode.Utf8.IsValid(text)) throw new DomainXmlException("domain XML is not valid UTF-8");
        var declaration = "";
        // The XML declaration is "<?xml" and white space; "<?xml-stylesheet ...?>" is a processing instruction,
        // part of the document, and must not be written again in front of it.
        if (text.StartsWith("<?xml"u8) && text.Length > 5
            && text[5] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            var end = text.IndexOf("?>"u8);
            if (end < 0) throw new DomainXmlException("domain XML: unterminated XML declaration");
            declaration = StrictUtf8.GetString(text[..(end + 2)]);
        }
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersInDocument = MaxChars,
            CloseInput = true,
        };
        var style = XmlStyle.Detect(text);
        XDocument xml;
        try
        {
            // As from a string: the reader ignores the encoding the declaration names (checked below).
            var stream = MemoryMarshal.TryGetArray(source, out var array)
                ? new MemoryStream(array.Array!, array.Offset, array.Count, writable: false)
                : new MemoryStream(source.ToArray(), writable: false);
            using var reader = XmlReader.Create(
                new StreamReader(stream, StrictUtf8, detectEncodingFromByteOrderMarks: false), settings);
            xml = XmlLoader.Load(reader, source, style);
        }
        catch (XmlException e) { throw new DomainXmlException($"domain XML is not well-formed: {e.Message}"); }
        var encoding = xml.Declaration?.Encoding;
        if (!string.IsNullOrEmpty(encoding) && !encoding.Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            && !encoding.Equals("utf8", StringComparison.OrdinalIgnoreCase))
            throw new DomainXmlException($"domain XML declares encoding '{encoding}'; only UTF-8 is supported");
        if (xml.Root is not { } root || root.Name != "domain")
            throw new DomainXmlException(
                $"domain XML: root element is <{xml.Root?.Name.LocalName}>, expected <domain>");
        foreach (var name in Singletons)
        {
            var count = 0;
            foreach (var _ in root.Elements(name)) count++;
            if (count > 1)
                throw new DomainXmlException($"domain XML has {count} <{name}> elements; " +
                    "libvirt allows one, and editing the first would leave a contradictory second");
        }
        return new DomainDocument(xml, declaration, bom, style, source.Length);
    }

    public string ToText()
    {
        var sink = new StringSink(_declaration);
        XmlSerializer.Write(sink, Xml, Style);
        return sink.ToString();
    }

    public ReadOnlyMemory<byte> ToBytes()
    {
        // The edits change the size little: the source length plus some slack is the right buffer size.
        var sink = new Utf8Sink(StrictUtf8, _sourceLength + _sourceLength / 16 + 4096);
        if (_bom) sink.AppendBytes([0xEF, 0xBB, 0xBF]);
        sink.Append(_declaration);
        XmlSerializer.Write(sink, Xml, Style);
        return sink.Complete();
    }

    // ---- facts the validation needs ----

    /// <summary>The <c>&lt;vcpu&gt;</c> maximum (not <c>current</c>): vCPU ids run 0..MaxVcpus-1.</summary>
    public int MaxVcpus
    {
        get
        {
            var vcpu = Root.Element("vcpu") ?? throw new DomainXmlException("domain XML has no <vcpu> element");
            return int.TryParse(vcpu.Value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new DomainXmlException($"domain XML: <vcpu> '{vcpu.Value.Trim()}' is not a positive number");
        }
    }

    /// <summary><c>&lt;memory&gt;</c>: the domain's maximum memory including hot-plugged DIMMs.</summary>
    public MemorySize Memory
    {
        get
        {
            var memory = Root.Element("memory") ?? throw new DomainXmlException("domain XML has no <memory> element");
            return LibvirtUnits.ToMemory(
                memory.Value, (string?)memory.Attribute("unit"), "domain XML: <memory>", Invalid);
        }
    }

    public IReadOnlyList<Dimm> Dimms
    {
        get
        {
            var dimms = new List<Dimm>();
            if (Root.Element("devices") is { } devices)
                foreach (var device in devices.Elements("memory")) dimms.Add(ReadDimm(device));
            return dimms;
        }
    }

    /// <summary>
    /// Null: ordinary pages. Otherwise the huge page size backing the guest
    /// (<c>&lt;memoryBacking&gt;&lt;hugepages&gt;</c>; 0: the host's default, i.e. its smallest huge page size).
    /// </summary>
    public long? HugePageKiB
    {
        get
        {
            if (Root.Element("memoryBacking")?.Element("hugepages") is not { } hugepages) return null;
            XElement? page = null; // the default page size: the first <page> without a nodeset, else the first
            foreach (var p in hugepages.Elements("page"))
            {
                if (p.Attribute("nodeset") is null) { page = p; break; }
                page ??= p;
            }
            return page?.Attribute("size") is { } s
                ? LibvirtUnits.ToMemory(s.Value, (string?)page.Attribute("unit"),
                    "domain XML: <memoryBacking><hugepages><page size>", Invalid).KiB
                : 0;
        }
    }

    /// <summary>
    /// The <c>nodeset</c> of each <c>&lt;memoryBacking&gt;&lt;hugepages&gt;&lt;page&gt;</c> that has one: guest NUMA
    /// node ids (libvirt refuses a node the guest lacks: "hugepages: node 1 not found"), as written and parsed.
    /// </summary>
    public IReadOnlyList<(string Text, CpuSet Nodes)> HugePageNodeSets
    {
        get
        {
            var sets = new List<(string Text, CpuSet Nodes)>();
            if (Root.Element("memoryBacking")?.Element("hugepages") is not { } hugepages) return sets;
            foreach (var page in hugepages.Elements("page"))
            {
                if ((string?)page.Attribute("nodeset") is not { } text) continue;
                try { sets.Add((text, CpuSet.Parse(text))); }
                catch (SyntaxException e)
                {
                    throw new DomainXmlException(
                        $"domain XML: <memoryBacking><hugepages><page nodeset='{text}'>: {e.Problem}");
                }
            }
            return sets;
        }
    }

    /// <summary>
    /// The domain's I/O thread ids as libvirt numbers them: the <c>&lt;iothreadids&gt;</c> ids, and when
    /// <c>&lt;iothreads&gt;</c> counts more, the missing ones filled from 1 upwards, skipping ids already taken
    /// (libvirt's rule; more ids than the count raise the count). Empty: the domain has no I/O threads.
    /// </summary>
    public IReadOnlyList<int> IoThreadIds
    {
        get
        {
            var count = Root.Element("iothreads") is { } n ? PositiveOrZero(n.Value, "<iothreads>") : 0;
            var ids = Root.Element("iothreadids")?.Elements("iothread")
                .Select(t => PositiveOrZero((string?)t.Attribute("id") ?? "", "<iothreadids><iothread id>"))
                .ToList() ?? [];
            var taken = ids.ToHashSet();
            for (var next = 1; ids.Count < count; next++)
                if (taken.Add(next)) ids.Add(next);
            return ids;
        }
    }

    /// <summary>The guest CPU topology (<c>&lt;cpu&gt;&lt;topology&gt;</c>), or null when the domain gives
    /// none.</summary>
    public GuestCpuTopology? CpuTopology
    {
        get
        {
            if (Root.Element("cpu")?.Element("topology") is not { } t) return null;
            int Get(string name) => t.Attribute(name) is { } a ? PositiveOrZero(a.Value, $"<cpu><topology {name}>") : 1;
            return new GuestCpuTopology(Get("sockets"), Get("dies"), Get("clusters"), Get("cores"), Get("threads"));
        }
    }

    private static int PositiveOrZero(string text, string what) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new DomainXmlException($"domain XML: {what} '{text.Trim()}' is not a number");

    /// <summary>What the guest cells must add up to: <c>&lt;memory&gt;</c> minus the DIMMs (<paramref name="dimms"/>:
    /// <see cref="Dimms"/>).</summary>
    public MemorySize InitialMemory(IReadOnlyList<Dimm> dimms) => Memory - DimmMemory(dimms);

    public static MemorySize DimmMemory(IReadOnlyList<Dimm> dimms) => MemorySize.Sum(dimms, d => d.Size);

    private static DomainXmlException Invalid(string message) => new(message);

    private static Dimm ReadDimm(XElement device)
    {
        var model = (string?)device.Attribute("model") ?? "dimm";
        var target = device.Element("target");
        var size = target?.Element("size")
            ?? throw new DomainXmlException($"domain XML: <memory model='{model}'> device has no <target><size>");
        var node = target.Element("node");
        int? nodeId = node is null ? null
            : int.TryParse(node.Value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : throw new DomainXmlException($"domain XML: memory device <node> '{node.Value.Trim()}' is not a number");
        return new Dimm(
            LibvirtUnits.ToMemory(size.Value, (string?)size.Attribute("unit"), "domain XML: memory device <size>",
                Invalid),
            nodeId, model);
    }
}
