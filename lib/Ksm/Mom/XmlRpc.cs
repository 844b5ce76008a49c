using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Largeguest.Ksm.Mom;

/// <summary>MoM answered with an XML-RPC fault.</summary>
public sealed class XmlRpcFaultException(int code, string text) : Exception($"XML-RPC fault {code}: {text}")
{
    public int Code { get; } = code;
    public string Text { get; } = text;
}

/// <summary>The answer was not a well-formed XML-RPC response over HTTP; the message says what was wrong.</summary>
public sealed class XmlRpcFormatException(string message) : Exception(message);

/// <summary>
/// The little XML-RPC MoM's server speaks, as pure functions (no I/O): a <c>methodCall</c> as an HTTP/1.0 POST, and an
/// HTTP response holding a <c>methodResponse</c> back to values. Values are <c>string</c>, <c>bool</c>, <c>int</c>,
/// <c>long</c> (<c>i8</c>), <c>double</c>, <c>null</c> (<c>nil</c>), <c>IReadOnlyDictionary&lt;string, object?&gt;</c>
/// (struct) and <c>IReadOnlyList&lt;object?&gt;</c> (array). Parameters are strings, booleans, ints or null.
/// </summary>
public static class XmlRpc
{
    public const string Path = "/RPC2";

    public static string MethodCall(string method, params object?[] parameters)
    {
        var b = new StringBuilder("<?xml version=\"1.0\"?>\n<methodCall><methodName>")
            .Append(Escape(method))
            .Append("</methodName><params>");
        foreach (var p in parameters)
        {
            b.Append("<param><value>");
            b.Append(p switch
            {
                null => "<nil/>",
                string s => $"<string>{Escape(s)}</string>",
                bool v => $"<boolean>{(v ? 1 : 0)}</boolean>",
                int i => $"<int>{i.ToString(CultureInfo.InvariantCulture)}</int>",
                _ => throw new ArgumentException(
                    $"unsupported XML-RPC parameter type {p.GetType().Name}", nameof(parameters)),
            });
            b.Append("</value></param>");
        }
        return b.Append("</params></methodCall>\n").ToString();
    }

    /// <summary>The bytes of the HTTP/1.0 request carrying <paramref name="body"/> (the server closes the connection
    /// after its answer).</summary>
    public static byte[] HttpRequest(string body)
    {
        var content = Encoding.UTF8.GetBytes(body);
        var head = Encoding.ASCII.GetBytes(
            $"POST {Path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: largeguest\r\n" +
            $"Content-Type: text/xml\r\nContent-Length: {content.Length}\r\n\r\n");
        return [.. head, .. content];
    }

    /// <summary>The value of a whole HTTP response; a fault throws <see cref="XmlRpcFaultException"/>, anything
    /// malformed <see cref="XmlRpcFormatException"/>.</summary>
    public static object? ParseHttpResponse(ReadOnlySpan<byte> response)
    {
        var text = Encoding.UTF8.GetString(response);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
            throw new XmlRpcFormatException($"not an HTTP response (no end of headers in {response.Length} bytes)");
        var status = text[..text.IndexOf("\r\n", StringComparison.Ordinal)];
        var parts = status.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/", StringComparison.Ordinal))
            throw new XmlRpcFormatException($"not an HTTP response: '{status}'");
        if (parts[1] != "200") throw new XmlRpcFormatException($"HTTP status '{status[(parts[0].Length + 1)..]}'");
        return ParseMethodResponse(text[(end + 4)..]);
    }

    public static object? ParseMethodResponse(string xml)
    {
        XDocument doc;
        try
        {
            using var reader = XmlReader.Create(
                new StringReader(xml),
                new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
            doc = XDocument.Load(reader);
        }
        catch (XmlException e) { throw new XmlRpcFormatException($"malformed XML-RPC response: {e.Message}"); }
        var root = doc.Root!;
        if (root.Name != "methodResponse")
            throw new XmlRpcFormatException($"expected <methodResponse>, found <{root.Name}>");
        if (root.Element("fault") is { } fault)
        {
            var value = Value(Single(fault, "value")) as IReadOnlyDictionary<string, object?>
                ?? throw new XmlRpcFormatException("a <fault> whose value is not a struct");
            var code = value.GetValueOrDefault("faultCode") switch { int c => c, long l => (int)l, _ => 0 };
            throw new XmlRpcFaultException(
                code, value.GetValueOrDefault("faultString") as string ?? "(no faultString)");
        }
        var param = Single(
            root.Element("params")
                ?? throw new XmlRpcFormatException("a <methodResponse> with neither <params> nor <fault>"),
            "param");
        return Value(Single(param, "value"));
    }

    private static XElement Single(XElement parent, string name)
    {
        var found = parent.Elements(name).ToList();
        return found.Count == 1
            ? found[0]
            : throw new XmlRpcFormatException($"<{parent.Name}> must hold exactly one <{name}>, found {found.Count}");
    }

    private static object? Value(XElement value)
    {
        var typed = value.Elements().ToList();
        if (typed.Count == 0) return value.Value; // no type element: a string
        if (typed.Count > 1) throw new XmlRpcFormatException($"a <value> with {typed.Count} type elements");
        var e = typed[0];
        var text = e.Value.Trim();
        return e.Name.LocalName switch
        {
            "string" => e.Value,
            "boolean" => text switch { "1" => true, "0" => false, _ => throw Bad(e) },
            "int" or "i4" => int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)
                ? i
                : throw Bad(e),
            "i8" => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)
                ? l
                : throw Bad(e),
            "double" => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                ? d
                : throw Bad(e),
            "nil" => null,
            "struct" => Struct(e),
            "array" => Single(e, "data").Elements("value").Select(Value).ToList() as IReadOnlyList<object?>,
            var other => throw new XmlRpcFormatException($"unsupported XML-RPC type <{other}>"),
        };
    }

    /// <summary>A struct; a member name given twice keeps its last value, as Python's xmlrpc does.</summary>
    private static IReadOnlyDictionary<string, object?> Struct(XElement e)
    {
        var members = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var m in e.Elements("member"))
            members[(string?)m.Element("name") ?? throw new XmlRpcFormatException("a struct <member> without <name>")] =
                Value(Single(m, "value"));
        return members;
    }

    private static XmlRpcFormatException Bad(XElement e) => new($"bad <{e.Name.LocalName}> value '{e.Value}'");

    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal)
        .Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
