using System.Text;

namespace Largeguest.Tests.Packaging;

/// <summary>
/// Asks the real regular-expression engines whether each value matches its property's definition:
/// a JVM (java.util.regex, as ovirt-engine validates) through RegexCheck.java, and Node.js
/// (JavaScript RegExp, as the webadmin validates in the browser) through RegexCheck.js.
/// </summary>
internal static class RegexEngines
{
    public static bool[] Java(string definitions, IReadOnlyList<(string Name, string Value)> corpus) =>
        Run(Tool.Require("java", "openjdk-17-jre-headless"), "RegexCheck.java", definitions, corpus);

    public static bool[] JavaScript(string definitions, IReadOnlyList<(string Name, string Value)> corpus) =>
        Run(Tool.Require("node", "nodejs"), "RegexCheck.js", definitions, corpus);

    private static bool[] Run(string runtime, string script, string definitions, IReadOnlyList<(string Name,
        string Value)> corpus)
    {
        using var dir = new ScratchDir();
        File.WriteAllText(dir["definitions"], definitions, new UTF8Encoding(false));
        var lines = new StringBuilder();
        foreach (var (name, value) in corpus)
        {
            lines.Append(name).Append('\t');
            foreach (var c in value) lines.Append(((int)c).ToString("X4"));
            lines.Append('\n');
        }
        File.WriteAllText(dir["corpus"], lines.ToString(), Encoding.ASCII);

        var result = Tool.Run(runtime,
            [Repo.PathOf($"tests/Largeguest.Tests/Packaging/{script}"), dir["definitions"], dir["corpus"],
                dir["verdicts"]]);
        result.ExitCode.Should().Be(0, $"{script} must run:\n{result}");

        var verdicts = File.ReadAllLines(dir["verdicts"]);
        verdicts.Should().HaveCount(corpus.Count, $"{script} answers once per corpus line");
        return verdicts.Select(v => v == "1").ToArray();
    }
}
