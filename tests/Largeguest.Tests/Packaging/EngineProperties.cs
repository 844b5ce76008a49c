namespace Largeguest.Tests.Packaging;

/// <summary>
/// packaging/engine-properties.txt, the one place the engine-side regular expressions live:
/// comment lines start with '#', every other non-empty line is NAME=REGEX.
/// </summary>
internal static class EngineProperties
{
    public const string File = "packaging/engine-properties.txt";

    /// <summary>The cluster levels the documented commands set (oVirt 4.5 clusters run level 4.7 or 4.8).</summary>
    public static readonly IReadOnlyList<string> ClusterVersions = ["4.7", "4.8"];

    /// <summary>vdc_options.option_value is character varying(4000): the whole UserDefinedVMProperties value must
    /// fit.</summary>
    public const int EngineOptionLimit = 4000;

    public static IReadOnlyList<(string Name, string Regex)> All { get; } = Load();

    public static string RegexOf(string name) => All.Single(p => p.Name == name).Regex;

    /// <summary>The value of UserDefinedVMProperties: NAME=REGEX pairs joined by ';'.</summary>
    public static string UserDefinedVmProperties => string.Join(";", All.Select(p => $"{p.Name}={p.Regex}"));

    public static string EngineConfigCommand(string clusterVersion) =>
        $"engine-config -s UserDefinedVMProperties='{UserDefinedVmProperties}' --cver={clusterVersion}";

    private static List<(string, string)> Load()
    {
        var list = new List<(string, string)>();
        foreach (var line in System.IO.File.ReadAllLines(Repo.PathOf(File)))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var eq = line.IndexOf('=');
            if (eq <= 0) throw new FormatException($"{File}: not NAME=REGEX: '{line}'");
            list.Add((line[..eq], line[(eq + 1)..]));
        }
        return list;
    }
}
