using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Largeguest.Hook.Cli;

/// <summary>
/// <c>largeguest check --json</c>: the canonical values (<c>properties</c>, keyed by property name, and
/// <c>property_string</c> for the engine), what each does, other hooks' properties left out, the domain checked.
/// </summary>
internal sealed record CheckOutput(
    Dictionary<string, string> Properties,
    string PropertyString,
    Dictionary<string, List<string>> Explanation,
    List<string> Ignored,
    CheckedDomain? Domain);

/// <summary>The <c>--domain</c> file the properties were checked against (a failed check is an error).</summary>
internal sealed record CheckedDomain(string File, bool Fits);

/// <summary><c>largeguest suggest --json</c>: <c>properties</c>, <c>property_string</c> (as check's), cells.</summary>
internal sealed record SuggestOutput(
    Dictionary<string, string> Properties,
    string PropertyString,
    string EngineCpuPinning,
    List<SuggestedCellOutput> Cells,
    int IoThreads);

internal sealed record SuggestedCellOutput(int Id, string Vcpus, int HostNode, string HostCpus, long MemoryKib);

/// <summary>
/// The CLI's JSON, source-generated (Native AOT: no reflection). Every JSON the product prints names its fields in
/// snake_case, as <c>ksm status --json</c> and <c>topology --json</c> do (docs/admin.md, "JSON output").
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CheckOutput))]
[JsonSerializable(typeof(SuggestOutput))]
internal sealed partial class CliJson : JsonSerializerContext
{
    // Stdout for scripts, not HTML: '<iothreadpin ...>' and quotes stay readable instead of \u003C escapes.
    // Made on first use: a static field initializer could run before the generated Default exists.
    private static CliJson? s_relaxed;
    private static CliJson Relaxed =>
        s_relaxed ??= new(new JsonSerializerOptions(Default.Options)
        {
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });

    /// <summary>One JSON document on stdout, newline-terminated.</summary>
    public static void Print<T>(T value, Func<CliJson, JsonTypeInfo<T>> type) =>
        Console.Out.Write(JsonSerializer.Serialize(value, type(Relaxed)) + "\n");
}
