namespace Largeguest.Grammar;

/// <summary>
/// Splits the <c>KEY#VALUE</c> lists of cputune and guestnuma into entries. Tokens are separated by
/// <c>,</c>; a cpuset inside an entry may itself contain commas, so a token without <c>#</c> is glued
/// (with its comma) to a neighbouring entry: <see cref="Glue.ToPrevious"/> for cputune, where the
/// cpuset is the entry's last field; <see cref="Glue.ToNext"/> for guestnuma, where it is the first.
/// </summary>
internal static class EntryList
{
    public enum Glue { ToPrevious, ToNext }

    public static List<string> Split(string text, Glue glue, string expected)
    {
        // Tokens are grouped first and joined once: appending to a growing entry string would make a
        // long value (VDSM passes up to 128 KiB) cost quadratic time and memory.
        var groups = new List<List<string>>();
        var pending = new List<string>();
        foreach (var raw in text.Split(','))
        {
            var token = raw.Trim();
            if (token.Length == 0) throw new SyntaxException($"empty entry in '{text.Trim()}'", expected);
            if (token.Contains('#'))
            {
                if (glue == Glue.ToNext && pending.Count > 0) { pending.Add(token); groups.Add(pending); pending = []; }
                else groups.Add([token]);
            }
            else if (glue == Glue.ToPrevious)
            {
                if (groups.Count == 0)
                    throw new SyntaxException($"bad token '{token}': the first entry has no '#'", expected);
                groups[^1].Add(token);
            }
            else pending.Add(token);
        }
        if (pending.Count > 0)
            throw new SyntaxException($"bad token '{string.Join(",", pending)}': the last entry has no '#'", expected);
        var entries = new List<string>(groups.Count);
        foreach (var group in groups) entries.Add(string.Join(",", group));
        return entries;
    }
}
