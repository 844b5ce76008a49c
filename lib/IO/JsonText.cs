using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Largeguest.IO;

/// <summary>
/// Every JSON document the product writes (the <c>--json</c> outputs, the tuner's state file) goes through one
/// writer: indented, and escaping only what JSON requires, since it is read by admins and scripts, not by browsers
/// (<c>&lt;iothreadpin ...&gt;</c> and quotes stay readable). Written with <see cref="Utf8JsonWriter"/> rather than
/// the serializer: Native AOT compiles the serializer's generic metadata into the binary, and every hook run pays
/// for it at start-up (about 1 MB and 50 page faults; docs/testing.md).
/// </summary>
public static class JsonText
{
    private static readonly JsonWriterOptions Options =
        new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The document <paramref name="write"/> writes, as UTF-8.</summary>
    public static byte[] Utf8(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, Options)) write(w);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The document as text with a final newline, for stdout.</summary>
    public static string Text(Action<Utf8JsonWriter> write) => Encoding.UTF8.GetString(Utf8(write)) + "\n";

    /// <summary>A number, or null when there is none.</summary>
    public static void WriteNumberOrNull(this Utf8JsonWriter w, string name, long? value)
    {
        if (value is long v) w.WriteNumber(name, v); else w.WriteNull(name);
    }
}
