using FsCheck.Xunit;
using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

/// <summary>Property-based: canonical forms round-trip, and nothing but our own errors come out of a parser.</summary>
[Properties(Arbitrary = [typeof(GrammarGenerators)], MaxTest = 500)]
public class GrammarPropertyTests
{
    private static void CanonicalFixedPoint<T>(T value, Func<string, T> parse, Func<T, T, bool> equal)
    {
        var text = value!.ToString()!;
        var parsed = parse(text);
        equal(parsed, value).Should().BeTrue($"'{text}' must parse back to the value it prints");
        parsed!.ToString().Should().Be(text, "the canonical form is a fixed point");
    }

    [Property]
    public void CpuSet_round_trips(CpuSet set) => CanonicalFixedPoint(set, CpuSet.Parse, (a, b) => a.Equals(b));

    [Property]
    public void CpuTune_round_trips(CpuTune tune) => CanonicalFixedPoint(tune, CpuTune.Parse,
        (a, b) => a.Pins.SequenceEqual(b.Pins) && Equals(a.Emulator,
            b.Emulator) && a.IoThreads.SequenceEqual(b.IoThreads));

    [Property]
    public void NumaTune_round_trips(NumaTune tune) =>
        CanonicalFixedPoint(tune, t => NumaTune.Parse(t, NumaMode.Preferred), (a, b) => a == b);

    [Property]
    public void GuestNuma_round_trips(GuestNuma numa) =>
        CanonicalFixedPoint(numa, GuestNuma.Parse, (a, b) => a.Cells.SequenceEqual(b.Cells));

    [Property]
    public void MemorySize_round_trips(MemorySize size) => CanonicalFixedPoint(size, MemorySize.Parse, (a,
        b) => a == b);

    /// <summary>Each parser, and the parser of its canonical form (the retired numa hook's value prints as a
    /// numatune).</summary>
    private static readonly (string Name, Func<string, object> Parse, Func<string, object> Reparse)[] Parsers =
    [
        ("cpuset", s => CpuSet.Parse(s), s => CpuSet.Parse(s)),
        ("cputune", s => CpuTune.Parse(s), s => CpuTune.Parse(s)),
        ("numatune", s => NumaTune.Parse(s, NumaMode.Preferred), s => NumaTune.Parse(s, NumaMode.Preferred)),
        ("numa", s => NumaTune.ParseLegacy(s), s => NumaTune.Parse(s, NumaMode.Preferred)),
        ("guestnuma", s => GuestNuma.Parse(s), s => GuestNuma.Parse(s)),
        ("memory", s => MemorySize.Parse(s), s => MemorySize.Parse(s)),
    ];

    [Property(MaxTest = 3000)]
    public void Random_strings_give_a_value_that_round_trips_or_our_syntax_error(string text)
    {
        foreach (var (name, parse, reparse) in Parsers)
        {
            object value;
            try { value = parse(text); }
            catch (SyntaxException e)
            {
                e.Problem.Should().NotBeNullOrWhiteSpace();
                e.Expected.Should().NotBeNullOrWhiteSpace();
                continue;
            }
            catch (Exception e) { throw new Xunit.Sdk.XunitException($"{name}.Parse('{text}') threw " +
                $"{e.GetType().Name}: {e.Message}"); }
            // Whatever parses has a canonical form that parses again to the same canonical form.
            var canonical = value.ToString()!;
            reparse(canonical).ToString().Should().Be(canonical, $"{name} '{text}' parsed to '{canonical}'");
        }
    }

    [Fact]
    public void The_random_strings_reach_both_success_and_failure_in_every_parser()
    {
        var samples = FsCheck.Fluent.Gen.Sample(GrammarGenerators.PropertyLikeString, 5000, 20);
        foreach (var (name, parse, _) in Parsers)
        {
            var ok = samples.Count(s => { try { parse(s); return true; } catch (SyntaxException) { return false; } });
            ok.Should().BeInRange(1, samples.Length - 1, $"the generated strings should exercise {name}'s success " +
                $"and error paths");
        }
    }

    [Property(MaxTest = 2000)]
    public void Random_property_sets_give_properties_or_our_property_error(string cputune, string numatune,
        string guestnuma, string pincpu, string numa, string ksm)
    {
        var values = new Dictionary<string, string>
        {
            ["cputune"] = cputune, ["numatune"] = numatune, ["guestnuma"] = guestnuma, ["pincpu"] = pincpu,
                ["numa"] = numa,
            ["ksm_merge_across_nodes"] = ksm,
        };
        var selected = LargeguestProperties.Select(values.GetValueOrDefault);
        try { LargeguestProperties.Parse(selected, NumaMode.Preferred); }
        catch (PropertyException e)
        {
            LargeguestProperties.Names.Should().Contain(e.Property);
            selected.Should().ContainKey(e.Property, "the error names a property that is set");
            // The property text may hold any character; what reaches VDSM's log is one line all the same.
            var stderr = new StringWriter();
            new Largeguest.IO.Diagnostics(stderr).Error(e.OneLine);
            var line = stderr.ToString();
            line.Should().StartWith($"largeguest: error: {e.Property}: ").And.EndWith(Environment.NewLine);
            line[..^Environment.NewLine.Length].IndexOfAny(['\r', '\n', '\u0085', '\u2028', '\u2029'])
                .Should().Be(-1, "the error is one line");
        }
    }
}
