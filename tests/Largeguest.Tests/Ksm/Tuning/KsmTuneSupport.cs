using System.Diagnostics;
using System.Text;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Ksm.Tuning;

/// <summary>Runs the published binary with a private state dir and config, so a test touches only KSM itself.</summary>
public sealed class TunerSandbox : IDisposable
{
    public TunerSandbox()
    {
        Dir = Directory.CreateTempSubdirectory("ksmtune-test").FullName;
        StateDir = Path.Combine(Dir, "state");
        ConfigPath = Path.Combine(Dir, "largeguest.json");
        File.WriteAllText(ConfigPath, "{}");
    }

    public string Dir { get; }
    public string StateDir { get; }
    public string ConfigPath { get; }

    public Dictionary<string, string> Environment => new()
    {
        ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin",
        ["LARGEGUEST_CONFIG"] = ConfigPath,
        ["LARGEGUEST__Ksm__StateDir"] = StateDir,
        ["LARGEGUEST__KsmTune__KsmtunedConf"] = "",
        ["LARGEGUEST__KsmTune__GuestStateDir"] = "",
    };

    public Process Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <summary>The binary with the sandbox's environment plus <paramref name="extra"/>.</summary>
    public Process Start(IReadOnlyDictionary<string, string> extra, params string[] args)
    {
        var start = new ProcessStartInfo(PublishedBinary.Path) { RedirectStandardError = true,
            RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Clear();
        foreach (var (k, v) in Environment) start.Environment[k] = v;
        foreach (var (k, v) in extra) start.Environment[k] = v;
        return Process.Start(start)!;
    }

    public (int Exit, string Stdout, string Stderr) Run(params string[] args)
    {
        using var p = Start(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(); throw new TimeoutException($"largeguest " +
            $"{string.Join(' ', args)} hung"); }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public string StateJson => File.ReadAllText(Path.Combine(StateDir, "ksmtune.json"));

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A strict reader of the Prometheus text format 0.0.4, for checking what the tuner serves.</summary>
public static class PromParser
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public static (Dictionary<string, string> Types, List<Sample> Samples) Parse(string text)
    {
        text.Should().EndWith("\n", "the exposition ends with a newline");
        var types = new Dictionary<string, string>();
        var helps = new HashSet<string>();
        var samples = new List<Sample>();
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal)) { helps.Add(line.Split(' ')[2])
                .Should().BeTrue($"one HELP per family: {line}"); continue; }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                parts.Should().HaveCount(4, line);
                parts[3].Should().BeOneOf(["gauge", "counter"], line);
                types.TryAdd(parts[2], parts[3]).Should().BeTrue($"one TYPE per family: {line}");
                continue;
            }
            line.Should().NotStartWith("#", "only HELP and TYPE comments are written");
            samples.Add(ParseSample(line));
        }
        foreach (var s in samples) types.Should().ContainKey(s.Name, "every sample belongs to a declared family");
        foreach (var (name, type) in types) if (type == "counter") name.Should().EndWith("_total");
        return (types, samples);
    }

    private static Sample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':')) i++;
        var name = line[..i];
        name.Should().MatchRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$", line);
        var labels = new Dictionary<string, string>();
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var label = line[i..eq];
                label.Should().MatchRegex("^[a-zA-Z_][a-zA-Z0-9_]*$", line);
                line[eq + 1].Should().Be('"', line);
                var value = new StringBuilder();
                var j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\') { j++; value.Append(line[j] switch { 'n' => '\n', '\\' => '\\', '"' => '"',
                        var c => throw new FormatException($"bad escape \\{c} in {line}") }); }
                    else value.Append(line[j]);
                }
                labels.Add(label, value.ToString());
                i = j + 1;
                if (line[i] == ',') i++;
            }
            i++;
        }
        line[i].Should().Be(' ', line);
        var text = line[(i + 1)..];
        var v = text switch { "NaN" => double.NaN, "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity, _ => double.Parse(text,
            System.Globalization.CultureInfo.InvariantCulture) };
        return new Sample(name, labels, v);
    }

    public static double Value(this List<Sample> samples, string name, params (string Label, string Value)[] labels) =>
        samples.Single(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Label) == l.Value)).Value;
}
