using Largeguest.Grammar;

namespace Largeguest.Admin;

/// <summary>
/// A VM's custom properties as the engine holds them: <c>name=value;name=value</c>. The engine's
/// property separator is <c>;</c>, so values never contain it. Properties of other hooks are kept
/// apart so that `check` can say they were ignored.
/// </summary>
public sealed record EngineProperties(IReadOnlyDictionary<string, string> Ours, IReadOnlyList<string> Others)
{
    public const string Syntax = "name=value[;name=value...], e.g. cputune=0#0-3;numatune=strict#0";

    public static EngineProperties Parse(string text)
    {
        var ours = new Dictionary<string, string>(StringComparer.Ordinal);
        var others = new List<string>();
        foreach (var raw in text.Split(';'))
        {
            var item = raw.Trim();
            if (item.Length == 0) continue;
            var eq = item.IndexOf('=');
            if (eq <= 0) throw new PropertyException("properties", $"bad token '{item}': no name=value", Syntax);
            var name = item[..eq].Trim();
            var value = item[(eq + 1)..];
            if (!LargeguestProperties.Names.Contains(name)) { others.Add(name); continue; }
            if (ours.ContainsKey(name)) throw new PropertyException(name, "is set twice", Syntax);
            if (!string.IsNullOrWhiteSpace(value)) ours[name] = value;
        }
        return new EngineProperties(ours, others);
    }
}
