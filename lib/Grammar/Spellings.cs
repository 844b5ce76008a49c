namespace Largeguest.Grammar;

/// <summary>
/// Words read through a table of their spellings, the index being the value (an enum's, for the NUMA modes and
/// the config's choices): no enum reflection, whose metadata loading every hook run would pay for.
/// </summary>
public static class Spellings
{
    /// <summary>The index of <paramref name="text"/> (trimmed, any case) in <paramref name="spellings"/>, or
    /// -1.</summary>
    public static int IndexOf(string[] spellings, string text)
    {
        var word = text.AsSpan().Trim();
        for (var i = 0; i < spellings.Length; i++)
            if (word.Equals(spellings[i], StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }
}
