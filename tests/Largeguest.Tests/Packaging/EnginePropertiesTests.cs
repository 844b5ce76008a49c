using System.Diagnostics;
using Largeguest.Grammar;
using Xunit.Abstractions;

namespace Largeguest.Tests.Packaging;

/// <summary>The engine-side definitions of the custom properties (packaging/engine-properties.txt).</summary>
public class EnginePropertiesTests(ITestOutputHelper output)
{
    [Fact]
    public void Defines_exactly_the_properties_the_hook_reads()
    {
        EngineProperties.All.Select(p => p.Name).Should().BeEquivalentTo(LargeguestProperties.Names);
        EngineProperties.All.Select(p => p.Name).Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void Definitions_survive_the_engine_the_webadmin_and_the_shell()
    {
        foreach (var (name, regex) in EngineProperties.All)
        {
            regex.Should().StartWith("^")
                .And.EndWith("$", $"{name}: the webadmin tests values with a JavaScript search, which needs anchors");
            regex.Should().NotContainAny([";"], $"{name}: ';' separates the engine's definitions");
            regex.Should().NotContainAny(["="], $"{name}: the webadmin splits each definition on every '='");
            regex.Should().NotContainAny(["'"], $"{name}: the documented command quotes the value in single quotes");
            regex.Should().NotContainAny(["(?i", "(?U", "\\p{", "++", "*+", "?+", "(?>", "(?<"],
                $"{name}: only the common subset of Java and JavaScript regular expressions works in both the engine " +
                    $"and the webadmin");
        }
        var length = EngineProperties.UserDefinedVmProperties.Length;
        output.WriteLine($"UserDefinedVMProperties value: {length} characters");
        length.Should().BeLessThan(EngineProperties.EngineOptionLimit,
            "vdc_options.option_value is character varying(4000), and the administrator's other properties need room " +
                "too");
    }

    [Fact]
    public void The_documentation_shows_the_exact_engine_config_command_for_each_cluster_level()
    {
        var docs = Repo.ReadText("docs/engine-config.md");
        foreach (var level in EngineProperties.ClusterVersions)
            docs.Should().Contain(EngineProperties.EngineConfigCommand(level),
                $"docs/engine-config.md must carry the cluster level {level} command assembled from " +
                    $"packaging/engine-properties.txt, byte for byte");
    }

    /// <summary>
    /// The core promise: for every value in a generated corpus, the engine's regex (evaluated by a real
    /// JVM) accepts it if and only if the hook's parser accepts its syntax; and the webadmin's JavaScript
    /// evaluation of the same regex agrees with the engine's.
    /// </summary>
    [Fact]
    public void Regexes_accept_exactly_what_the_parser_accepts_at_the_syntax_level()
    {
        var seed = Environment.GetEnvironmentVariable("LARGEGUEST_CORPUS_SEED") is { Length: > 0 } s
            ? ulong.Parse(s, System.Globalization.CultureInfo.InvariantCulture)
            : (ulong)Random.Shared.NextInt64(1, long.MaxValue);
        output.WriteLine($"corpus seed {seed} (rerun with LARGEGUEST_CORPUS_SEED={seed})");

        var corpus = new List<(string Name, string Value)>();
        foreach (var name in LargeguestProperties.Names)
            corpus.AddRange(PropertyCorpus.For(name, seed).Select(v => (name, v)));
        var neutralized = corpus.Select(c => (c.Name, SyntaxOracle.Neutralize(c.Name, c.Value))).ToList();

        var clock = Stopwatch.StartNew();
        var java = RegexEngines.Java(EngineProperties.UserDefinedVmProperties, [.. corpus, .. neutralized]);
        output.WriteLine($"java evaluated {java.Length} values in {clock.ElapsedMilliseconds} ms");
        clock.Restart();
        var javaScript = RegexEngines.JavaScript(EngineProperties.UserDefinedVmProperties, corpus);
        output.WriteLine($"node evaluated {javaScript.Length} values in {clock.ElapsedMilliseconds} ms");

        var disagreements = new List<string>();
        var broken = new List<string>();
        var semanticSeen = SyntaxOracle.SemanticProblems.ToDictionary(p => p, _ => 0);
        var counts = LargeguestProperties.Names.ToDictionary(n => n, _ => (Accepted: 0, Rejected: 0));
        for (var i = 0; i < corpus.Count; i++)
        {
            var (name, value) = corpus[i];
            var neutral = neutralized[i].Item2;
            var original = SyntaxOracle.Parse(name, value);
            var syntax = SyntaxOracle.Parse(name, neutral);
            var regex = java[i];

            if (original.Accepted && !syntax.Accepted)
                broken.Add($"{name}={PropertyCorpus.Show(value)}: accepted, but its neutralized form " +
                    $"{PropertyCorpus.Show(neutral)} is not ({syntax.Problem})");
            if (!original.Accepted && syntax.Accepted)
            {
                if (SyntaxOracle.SemanticProblemIn(original.Problem!) is { } problem) semanticSeen[problem]++;
                else broken.Add($"{name}={PropertyCorpus.Show(value)}: rejected for '{original.Problem}', which is " +
                    $"not a semantic check, yet {PropertyCorpus.Show(neutral)} is accepted");
            }
            if (java[corpus.Count + i] != regex)
                broken.Add($"{name}={PropertyCorpus.Show(value)}: the regex says {regex} but {!regex} for the " +
                    $"neutralized {PropertyCorpus.Show(neutral)}");
            if (javaScript[i] != regex)
                disagreements.Add($"{name}={PropertyCorpus.Show(value)}: Java {(regex ? "accepts" : "rejects")}, " +
                    $"JavaScript (the webadmin) does not");
            if (regex != syntax.Accepted)
                disagreements.Add($"{name}={PropertyCorpus.Show(value)}: regex {(regex ? "accepts" : "rejects")}, " +
                    $"parser {(syntax.Accepted ? "accepts" : $"rejects ({syntax.Problem})")}");

            var c = counts[name];
            counts[name] = syntax.Accepted ? (c.Accepted + 1, c.Rejected) : (c.Accepted, c.Rejected + 1);
        }

        foreach (var (name, c) in counts) output.WriteLine($"{name}: {c.Accepted} accepted, {c.Rejected} rejected at " +
            $"the syntax level");
        foreach (var (problem, n) in semanticSeen) output.WriteLine($"semantic only: '{problem}' x{n}");

        broken.Should().BeEmpty("the syntax-level oracle must be sound (seed {0})", seed);
        disagreements.Should().BeEmpty("the engine's regex and the hook's parser must agree (seed {0}); first " +
            "ones:\n{1}",
            seed, string.Join("\n", disagreements.Take(25)));
        foreach (var (name, c) in counts)
        {
            c.Accepted.Should().BeGreaterThan(50, $"the corpus must exercise accepted {name} values");
            c.Rejected.Should().BeGreaterThan(50, $"the corpus must exercise rejected {name} values");
        }
        semanticSeen.Where(kv => kv.Value == 0).Select(kv => kv.Key).Should().BeEmpty(
            "every semantic check must occur in the corpus, or the regexes were never shown to leave it to the hook");
    }
}
