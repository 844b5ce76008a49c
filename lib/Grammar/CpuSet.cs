using System.Text;

namespace Largeguest.Grammar;

/// <summary>
/// A set of CPU (or NUMA node) ids in libvirt's cpuset syntax: <c>N</c>, <c>N-M</c>, <c>^N</c>,
/// comma-separated, exclusions applied after inclusions, never empty.
/// Printed in canonical form (<c>0-2,4-7</c>).
/// </summary>
public sealed class CpuSet : IEquatable<CpuSet>
{
    /// <summary>libvirt's VIR_DOMAIN_CPUMASK_LEN: ids at or above it are rejected by libvirt too.</summary>
    public const int MaxId = 16383;

    public const string Syntax = "ids or ranges like 0-3,8,^2 (libvirt cpuset syntax)";

    private readonly int[] _ids;

    private CpuSet(int[] sortedDistinct) => _ids = sortedDistinct;

    public IReadOnlyList<int> Ids => _ids;
    public int Count => _ids.Length;
    public int Min => _ids[0];
    public int Max => _ids[^1];

    public bool Contains(int id) => Array.BinarySearch(_ids, id) >= 0;

    public static CpuSet Of(IEnumerable<int> ids)
    {
        // Sorted and deduplicated in place: Distinct().Order() cost the hook run its ordered-iterator code.
        var sorted = ids.ToArray();
        Array.Sort(sorted);
        var distinct = 0;
        foreach (var id in sorted)
            if (distinct == 0 || sorted[distinct - 1] != id) sorted[distinct++] = id;
        Array.Resize(ref sorted, distinct);
        if (sorted.Length == 0) throw new ArgumentException("a cpuset cannot be empty", nameof(ids));
        if (sorted[0] < 0 || sorted[^1] > MaxId) throw new ArgumentOutOfRangeException(nameof(ids));
        return new CpuSet(sorted);
    }

    public static CpuSet Range(int first, int last)
    {
        var ids = new int[last - first + 1];
        for (var i = 0; i < ids.Length; i++) ids[i] = first + i;
        return Of(ids);
    }

    public static CpuSet Parse(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Length == 0) throw new SyntaxException("empty cpuset", Syntax);
        // Ranges are merged rather than expanded into a set, so the cost is bounded by the (at most
        // MaxId + 1) ids of the result, not by how many times a long value repeats a wide range.
        var include = new List<(int First, int Last)>();
        var exclude = new HashSet<int>();
        foreach (var raw in trimmed.Split(','))
        {
            var token = raw.Trim();
            if (token.Length == 0) throw new SyntaxException($"empty entry in cpuset '{trimmed}'", Syntax);
            var negated = token.StartsWith('^');
            var body = negated ? token[1..].Trim() : token;
            var (first, last) = ParseRange(body, token);
            if (negated && first != last)
                throw new SyntaxException($"bad token '{token}': only a single id can be excluded", Syntax);
            if (negated) exclude.Add(first); else include.Add((first, last));
        }
        include.Sort();
        var ids = new List<int>();
        var next = 0;
        foreach (var (first, last) in include)
        {
            for (var id = Math.Max(first, next); id <= last; id++)
                if (!exclude.Contains(id)) ids.Add(id);
            next = Math.Max(next, last + 1);
        }
        if (ids.Count == 0) throw new SyntaxException($"cpuset '{trimmed}' selects no id", Syntax);
        return new CpuSet([.. ids]);
    }

    /// <summary>Parses <c>N</c> or <c>N-M</c>; <paramref name="token"/> is what the error quotes.</summary>
    internal static (int First, int Last) ParseRange(string body, string token)
    {
        var dash = body.IndexOf('-');
        var first = ParseId(dash < 0 ? body : body[..dash], token);
        var last = dash < 0 ? first : ParseId(body[(dash + 1)..], token);
        if (last < first) throw new SyntaxException($"bad token '{token}': range ends before it starts", Syntax);
        return (first, last);
    }

    private static int ParseId(string text, string token)
    {
        var t = text.Trim();
        if (t.Length == 0 || t.Length > 6 || t.AsSpan().ContainsAnyExceptInRange('0', '9'))
            throw new SyntaxException($"bad token '{token}'", Syntax);
        var id = int.Parse(t, System.Globalization.CultureInfo.InvariantCulture);
        if (id > MaxId) throw new SyntaxException($"bad token '{token}': id {id} is above {MaxId}", Syntax);
        return id;
    }

    public CpuSet Union(CpuSet other) => Of([.. _ids, .. other._ids]);

    public override string ToString() => Format(_ids);

    /// <summary>Canonical range notation for any sorted distinct ids (used in messages too).</summary>
    public static string Format(IEnumerable<int> sortedIds)
    {
        var sb = new StringBuilder();
        int? start = null, prev = null;
        foreach (var id in sortedIds)
        {
            if (prev is int p && id == p + 1) { prev = id; continue; }
            Flush();
            start = prev = id;
        }
        Flush();
        return sb.ToString();

        void Flush()
        {
            if (start is not int s || prev is not int e) return;
            if (sb.Length > 0) sb.Append(',');
            sb.Append(s);
            if (e > s) sb.Append('-').Append(e);
        }
    }

    public bool Equals(CpuSet? other) => other is not null && _ids.AsSpan().SequenceEqual(other._ids);
    public override bool Equals(object? obj) => Equals(obj as CpuSet);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var id in _ids) h.Add(id);
        return h.ToHashCode();
    }
}
