using System.Text.Json;
using Largeguest.IO;

namespace Largeguest.Hook.Cli;

/// <summary>
/// <c>largeguest check --json</c>: the canonical values (<c>properties</c>, keyed by property name, and
/// <c>property_string</c> for the engine), what each does, other hooks' properties left out, the domain checked.
/// </summary>
internal sealed record CheckOutput(
    IReadOnlyList<(string Name, string Value)> Properties,
    string PropertyString,
    IReadOnlyList<(string Name, IReadOnlyList<string> Lines)> Explanation,
    IReadOnlyList<string> Ignored,
    CheckedDomain? Domain)
{
    public void Print() => CliJson.Print(w =>
    {
        CliJson.WriteProperties(w, Properties, PropertyString);
        w.WriteStartObject("explanation");
        foreach (var (name, lines) in Explanation) CliJson.WriteStrings(w, name, lines);
        w.WriteEndObject();
        CliJson.WriteStrings(w, "ignored", Ignored);
        if (Domain is null) w.WriteNull("domain");
        else
        {
            w.WriteStartObject("domain");
            w.WriteString("file", Domain.File);
            w.WriteBoolean("fits", Domain.Fits);
            w.WriteEndObject();
        }
    });
}

/// <summary>The <c>--domain</c> file the properties were checked against (a failed check is an error).</summary>
internal sealed record CheckedDomain(string File, bool Fits);

/// <summary><c>largeguest suggest --json</c>: <c>properties</c>, <c>property_string</c> (as check's), cells.</summary>
internal sealed record SuggestOutput(
    IReadOnlyList<(string Name, string Value)> Properties,
    string PropertyString,
    string EngineCpuPinning,
    IReadOnlyList<SuggestedCellOutput> Cells,
    int IoThreads)
{
    public void Print() => CliJson.Print(w =>
    {
        CliJson.WriteProperties(w, Properties, PropertyString);
        w.WriteString("engine_cpu_pinning", EngineCpuPinning);
        w.WriteStartArray("cells");
        foreach (var c in Cells)
        {
            w.WriteStartObject();
            w.WriteNumber("id", c.Id);
            w.WriteString("vcpus", c.Vcpus);
            w.WriteNumber("host_node", c.HostNode);
            w.WriteString("host_cpus", c.HostCpus);
            w.WriteNumber("memory_kib", c.MemoryKib);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("io_threads", IoThreads);
    });
}

internal sealed record SuggestedCellOutput(int Id, string Vcpus, int HostNode, string HostCpus, long MemoryKib);

/// <summary>
/// The CLI's JSON documents (lib/IO/JsonText.cs). Every JSON the product prints names its fields in snake_case, as
/// <c>ksm status --json</c> and <c>topology --json</c> do (docs/admin.md, "JSON output").
/// </summary>
internal static class CliJson
{
    /// <summary>One JSON object on stdout, newline-terminated; <paramref name="fields"/> writes its fields.</summary>
    public static void Print(Action<Utf8JsonWriter> fields) => Console.Out.Write(JsonText.Text(w =>
    {
        w.WriteStartObject();
        fields(w);
        w.WriteEndObject();
    }));

    /// <summary><c>properties</c> (name to canonical value) and <c>property_string</c>, as check and suggest give
    /// them.</summary>
    public static void WriteProperties(Utf8JsonWriter w, IEnumerable<(string Name, string Value)> properties,
        string propertyString)
    {
        w.WriteStartObject("properties");
        foreach (var (name, value) in properties) w.WriteString(name, value);
        w.WriteEndObject();
        w.WriteString("property_string", propertyString);
    }

    public static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }
}
