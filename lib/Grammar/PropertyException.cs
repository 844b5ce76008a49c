namespace Largeguest.Grammar;

/// <summary>
/// A property value (or a check of it) that cannot be honoured. Renders as the hook contract's
/// one-line error: <c>&lt;property&gt;: &lt;what is wrong&gt; (expected: &lt;syntax&gt;)</c>.
/// </summary>
public sealed class PropertyException(string property, string problem, string expected) : Exception(problem)
{
    public string Property { get; } = property;
    public string Problem { get; } = problem;
    public string Expected { get; } = expected;

    public string OneLine => $"{Property}: {Problem} (expected: {Expected})";

    public override string ToString() => OneLine;
}

/// <summary>A syntax error inside one grammar, before it is known which property carried the text.</summary>
public sealed class SyntaxException(string problem, string expected) : Exception(problem)
{
    public string Problem { get; } = problem;
    public string Expected { get; } = expected;

    public PropertyException For(string property) => new(property, Problem, Expected);
}
