using Largeguest.Config;
using Microsoft.Extensions.Configuration;

namespace Largeguest.Tests.Packaging;

/// <summary>packaging/largeguest.json (installed as /etc/vdsm-hook-largeguest/largeguest.json) and
/// docs/configuration.md.</summary>
public class ShippedConfigTests
{
    private const string Shipped = "packaging/largeguest.json";

    [Fact]
    public void Shipped_config_has_every_key_with_its_default_and_nothing_else()
    {
        var values = new ConfigurationBuilder().AddJsonFile(Repo.PathOf(Shipped), optional: false).Build()
            .AsEnumerable().Where(kv => kv.Value is not null)
            .ToDictionary(kv => kv.Key, kv => kv.Value!, StringComparer.Ordinal);
        values.Should().BeEquivalentTo(ConfigKeys.All.ToDictionary(k => k.Name, k => k.Default, StringComparer.Ordinal),
            "the shipped file lists exactly the keys of lib/Config/ConfigKeys.cs with their defaults");
    }

    [Fact]
    public void Product_loads_the_shipped_config_as_the_defaults_without_warnings()
    {
        var warnings = new List<string>();
        var loaded = LargeguestConfig.Load(
            new Dictionary<string, string> { [LargeguestConfig.PathVariable] = Repo.PathOf(Shipped) },
                privileged: false, warnings.Add);
        warnings.Should().BeEmpty();
        loaded.Should().Be(LargeguestConfig.Defaults);
    }

    [Fact]
    public void Shipped_config_says_above_every_key_what_it_does()
    {
        // The comment above each key is its lib/Config/ConfigKeys.cs description (wrapped): one text, kept in step.
        var comments = new Dictionary<string, string>(StringComparer.Ordinal);
        string? section = null;
        var pending = new List<string>();
        foreach (var raw in Repo.ReadText(Shipped).Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("//", StringComparison.Ordinal)) { pending.Add(line[2..].Trim()); continue; }
            if (System.Text.RegularExpressions.Regex.Match(line, "^\"(\\w+)\": (\\{?)") is { Success: true } m)
            {
                if (m.Groups[2].Length > 0) section = m.Groups[1].Value;
                else comments[$"{section}:{m.Groups[1].Value}"] = string.Join(' ', pending);
            }
            pending.Clear();
        }
        foreach (var key in ConfigKeys.All)
        {
            comments.Should().ContainKey(key.Name);
            comments[key.Name].Should().Be(key.Description,
                $"the comment above {key.Name} in {Shipped} is its description in ConfigKeys.cs");
        }
        Repo.ReadText(Shipped).Should().Contain("/etc/vdsm-hook-largeguest/largeguest.d/",
            "the file tells where local changes go");
    }

    [Fact]
    public void Configuration_doc_describes_every_key_with_its_default()
    {
        var rows = Repo.ReadText("docs/configuration.md").Split('\n')
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal)).ToList();
        foreach (var key in ConfigKeys.All)
        {
            var row = rows.SingleOrDefault(r => r.StartsWith($"| `{key.Name}` |", StringComparison.Ordinal));
            row.Should().NotBeNull($"docs/configuration.md needs a table row for {key.Name}");
            row.Should().Contain($"| `{(key.Default.Length == 0 ? "\"\"" : key.Default)}` |", $"the row of " +
                $"{key.Name} shows its default");
        }
        rows.Should().HaveCount(ConfigKeys.All.Count, "one row per key, no row for a key the product does not know");
    }
}
