using System.Text;
using System.Text.Json;

namespace Largeguest.Config;

/// <summary>
/// One configuration file's values by key path (<c>Section:Key</c>, array items <c>Key:0</c>, any case), as
/// written: strings unquoted, numbers and <c>true</c>/<c>false</c> as their text; <c>null</c> and an empty object
/// or array give no value. Comments and trailing commas are allowed (the shipped file is commented key by key).
/// Read with System.Text.Json's reader directly: the hook reads this file on every VM start, and a document
/// model or a configuration framework would cost each run more than the file's few keys are worth.
/// </summary>
internal static class JsonConfigFile
{
    private static readonly JsonReaderOptions Options =
        new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <exception cref="JsonException">Malformed JSON; its LineNumber and BytePositionInLine say where.</exception>
    /// <exception cref="FormatException">The top level is not an object, or a key is given twice.</exception>
    public static Dictionary<string, string?> Read(ReadOnlySpan<byte> json)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var reader = new Utf8JsonReader(json.StartsWith("\uFEFF"u8) ? json[3..] : json, Options);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new FormatException($"the top level is {Describe(reader.TokenType)}, not an object");
        Visit(ref reader, "", values);
        reader.Read(); // throws on anything but comments after the top-level object
        return values;
    }

    /// <summary>The value at <paramref name="reader"/> (and everything inside it) under <paramref name="path"/>.
    /// </summary>
    private static void Visit(ref Utf8JsonReader reader, string path, Dictionary<string, string?> values)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                var empty = true;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString()!;
                    reader.Read();
                    Visit(ref reader, path.Length == 0 ? name : $"{path}:{name}", values);
                    empty = false;
                }
                if (empty && path.Length > 0) Set(path, null);
                break;
            case JsonTokenType.StartArray:
                var index = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    Visit(ref reader, $"{path}:{index++}", values);
                if (index == 0) Set(path, null);
                break;
            case JsonTokenType.String:
                Set(path, reader.GetString());
                break;
            case JsonTokenType.Null:
                Set(path, null);
                break;
            default: // a number, true or false: its text as written
                Set(path, Encoding.UTF8.GetString(reader.ValueSpan));
                break;
        }

        void Set(string key, string? value)
        {
            if (!values.TryAdd(key, value)) throw new FormatException($"the key '{key}' is given twice");
        }
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "true or false",
        JsonTokenType.Null => "null",
        _ => "empty",
    };
}
