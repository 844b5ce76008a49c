using System.Diagnostics;
using System.Text.Json;

namespace Largeguest.Tests.Host;

/// <summary>
/// <c>check --json</c> and <c>suggest --json</c> through the published binary: the JSON parses, carries what the text
/// output says, names every field in snake_case (as <c>topology --json</c> and <c>ksm status --json</c>), and errors
/// still go to stderr with exit 2 and nothing on stdout.
/// </summary>
public sealed class JsonOutputProcessTests : IDisposable
{
    private const long GiB = 1024 * 1024;
    private readonly HostBinary _bin = new();
    private readonly SysfsFixture _sysfs = SysfsFixture.Symmetric(2, 2);

    public void Dispose()
    {
        _bin.Dispose();
        _sysfs.Dispose();
    }

    private Dictionary<string, string> Sysfs() => new()
    {
        ["LARGEGUEST__Topology__Source"] = "sysfs",
        ["LARGEGUEST__Topology__SysfsRoot"] = _sysfs.Root,
    };

    private static JsonElement Parse(HostBinary.Result r)
    {
        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().EndWith("}\n", "one JSON document, newline-terminated");
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.Clone();
    }

    /// <summary>Every property name at any depth, dictionary keys included (property names: snake_case too).</summary>
    private static IEnumerable<string> Names(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Names(p.Value).Prepend(p.Name)),
        JsonValueKind.Array => e.EnumerateArray().SelectMany(Names),
        _ => [],
    };

    private static void SnakeCase(JsonElement e, string what) =>
        Names(e).Should().NotBeEmpty().And.OnlyContain(
            n => System.Text.RegularExpressions.Regex.IsMatch(n, "^[a-z][a-z0-9]*(_[a-z0-9]+)*$"),
            $"{what} names its fields in snake_case like every JSON the product prints");

    private static Dictionary<string, string> Strings(JsonElement e) =>
        e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    [Fact]
    public void Check_json_says_what_the_text_output_says()
    {
        const string properties =
            "cputune=0-1#0-1,emulator#4;other_hook=x;numatune=strict:0;guestnuma=0-1#4G#0,2-3#4G#1";
        var text = _bin.Cli(Sysfs(), "check", properties);
        text.Exit.Should().Be(0, text.Stderr);
        var json = _bin.Cli(Sysfs(), "check", properties, "--json");
        var root = Parse(json);
        SnakeCase(root, "check --json");

        // The text output's unindented lines are the canonical name=value pairs, its indented ones what each does.
        var lines = text.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var canonical = lines.Where(l => !l.StartsWith(' ')).Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1]);
        canonical.Should().ContainKey("numatune").WhoseValue.Should().Be("strict#0", "canonical, not as typed");
        Strings(root.GetProperty("properties")).Should().Equal(canonical);
        root.GetProperty("properties").EnumerateObject().Select(p => p.Name)
            .Should().Equal("cputune", "numatune", "guestnuma");
        root.GetProperty("property_string").GetString()
            .Should().Be(string.Join(";", canonical.Select(kv => $"{kv.Key}={kv.Value}")));
        var explained = root.GetProperty("explanation").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateArray().Select(l => "  " + l.GetString())
                .Prepend($"{p.Name}={canonical[p.Name]}"));
        explained.Should().Equal(lines, "the explanation is the text output's, property by property");
        root.GetProperty("explanation").GetProperty("cputune")[1].GetString()
            .Should().Be("emulator threads run on host CPUs 4");
        root.GetProperty("ignored").EnumerateArray().Select(e => e.GetString()).Should().Equal("other_hook");
        root.GetProperty("domain").ValueKind.Should().Be(JsonValueKind.Null);
        json.Stderr.Should().Be("largeguest: note: other_hook: not a largeguest property, ignored\n",
            "notes stay on stderr");
    }

    [Fact]
    public void Check_json_with_a_domain_names_it_and_without_properties_is_empty()
    {
        var domain = Path.Combine(_bin.Dir, "check-json.xml");
        File.WriteAllText(domain, TopologyProcessTests.Domain(4, 8 * GiB));
        var root = Parse(_bin.Cli(Sysfs(), "check", "cputune=0-3#0-1;guestnuma=0-3#8G", "--domain", domain, "--json"));
        root.GetProperty("domain").GetProperty("file").GetString().Should().Be(domain);
        root.GetProperty("domain").GetProperty("fits").GetBoolean().Should().BeTrue();

        var none = Parse(_bin.Cli(Sysfs(), "check", "other_hook=1", "--json"));
        none.GetProperty("properties").EnumerateObject().Should().BeEmpty();
        none.GetProperty("property_string").GetString().Should().BeEmpty();
        none.GetProperty("ignored").EnumerateArray().Select(e => e.GetString()).Should().Equal("other_hook");
    }

    [Theory]
    [InlineData(new[] { "cputune=0#x" }, "largeguest: error: cputune: in '0#x': bad token 'x'")]
    [InlineData(new[] { "cputune=0-7#0", "--domain", "DOMAIN" }, "largeguest: error: cputune: vCPU")]
    [InlineData(new[] { "cputune=0#0", "--domain", "/nonexistent/d.xml" },
        "largeguest: error: --domain: cannot read '/nonexistent/d.xml': No such file")]
    // The hook's reader (HookContract.ReadDomain): a FIFO is refused at once, never waited on.
    [InlineData(new[] { "cputune=0#0", "--domain", "FIFO" }, "largeguest: error: --domain: cannot read '")]
    public void Check_json_errors_are_one_line_on_stderr_with_exit_2(string[] args, string message)
    {
        var domain = Path.Combine(_bin.Dir, "small.xml");
        File.WriteAllText(domain, TopologyProcessTests.Domain(4, 8 * GiB));
        var fifo = Path.Combine(_bin.Dir, "domain.fifo");
        if (args.Contains("FIFO") && !File.Exists(fifo)) Process.Start("mkfifo", fifo)!.WaitForExit();
        var r = _bin.Cli(Sysfs(), ["check", .. args
            .Select(a => a == "DOMAIN" ? domain : a == "FIFO" ? fifo : a), "--json"]);
        if (args.Contains("FIFO")) r.Stderr.Should().Contain("not a regular file but a FIFO");
        r.Exit.Should().Be(2);
        r.Stdout.Should().BeEmpty("a script reading stdout gets no half answer");
        r.Stderr.Should().StartWith(message).And.EndWith("\n");
        r.Stderr.TrimEnd('\n').Should().NotContain("\n", "one line");
    }

    [Fact]
    public void Suggest_json_says_what_the_text_output_and_its_notes_say()
    {
        string[] args = ["suggest", "--vcpus", "6", "--memory", "20G", "--io-threads", "1"];
        var text = _bin.Cli(Sysfs(), args);
        text.Exit.Should().Be(0, text.Stderr);
        var json = _bin.Cli(Sysfs(), [.. args, "--json"]);
        var root = Parse(json);
        SnakeCase(root, "suggest --json");
        json.Stderr.Should().BeEmpty("the notes' content is in the JSON");

        var lines = text.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1]);
        Strings(root.GetProperty("properties")).Should().Equal(lines);
        var propertyString = root.GetProperty("property_string").GetString();
        propertyString.Should().Be(string.Join(";", lines.Select(kv => $"{kv.Key}={kv.Value}")));
        text.Stderr.Should().Contain($"as one custom-property string: {propertyString}\n")
            .And.Contain($"VM pinned to its hosts): {root.GetProperty("engine_cpu_pinning").GetString()}\n");
        root.GetProperty("io_threads").GetInt32().Should().Be(1);

        // 20 GiB on two nodes of 12 GiB free: two cells; each as the text notes describe it.
        var cells = root.GetProperty("cells").EnumerateArray().ToList();
        cells.Should().HaveCount(2);
        cells.Sum(c => c.GetProperty("memory_kib").GetInt64()).Should().Be(20 * GiB);
        foreach (var c in cells)
        {
            var memory = c.GetProperty("memory_kib").GetInt64();
            text.Stderr.Should().Contain(
                $"guest cell {c.GetProperty("id").GetInt32()}: vCPUs {c.GetProperty("vcpus").GetString()} " +
                $"on host node {c.GetProperty("host_node").GetInt32()} " +
                $"CPUs {c.GetProperty("host_cpus").GetString()}, " +
                new Largeguest.Grammar.MemorySize(memory).Readable());
        }
    }

    [Theory]
    [InlineData(new[] { "--vcpus", "9", "--memory", "1G" },
        "largeguest: error: suggest: 9 vCPUs need 9 online host CPUs")]
    [InlineData(new[] { "--vcpus", "2", "--memory", "1X" }, "largeguest: error: --memory: bad size '1X'")]
    public void Suggest_json_errors_are_one_line_on_stderr_with_exit_2(string[] args, string message)
    {
        var r = _bin.Cli(Sysfs(), ["suggest", .. args, "--json"]);
        r.Exit.Should().Be(2);
        r.Stdout.Should().BeEmpty();
        r.Stderr.Should().StartWith(message);
    }

    [Fact]
    public void Topology_json_is_snake_case_too() =>
        SnakeCase(Parse(_bin.Cli(Sysfs(), "topology", "--json")), "topology --json");

    [Theory]
    [InlineData("check")]
    [InlineData("suggest")]
    public void Help_documents_json(string command)
    {
        var r = _bin.Cli(Sysfs(), command, "--help");
        r.Exit.Should().Be(0, r.Stderr);
        r.Stdout.Should().Contain("--json").And.Contain("snake_case").And.Contain("stderr");
    }
}
