using System.Text;

namespace Largeguest.Admin;

/// <summary>A line-based unified diff (Myers' O(ND) algorithm), as `diff -u` prints it.</summary>
public static class UnifiedDiff
{
    public static string Create(string oldText, string newText, string oldLabel, string newLabel, int context = 3)
    {
        var a = SplitLines(oldText);
        var b = SplitLines(newText);
        var ops = Diff(a, b);
        if (ops.All(o => o.Kind == ' ')) return "";
        var sb = new StringBuilder().Append("--- ").Append(oldLabel).Append('\n')
            .Append("+++ ").Append(newLabel).Append('\n');
        var i = 0;
        while (i < ops.Count)
        {
            if (ops[i].Kind == ' ') { i++; continue; }
            var start = Math.Max(0, i - context);
            var end = i;
            // Extend the hunk while the next change is within 2*context unchanged lines.
            while (true)
            {
                while (end < ops.Count && ops[end].Kind != ' ') end++;
                var next = end;
                while (next < ops.Count && ops[next].Kind == ' ') next++;
                if (next < ops.Count && next - end <= 2 * context) { end = next; continue; }
                end = Math.Min(ops.Count, end + context);
                break;
            }
            var hunk = ops.GetRange(start, end - start);
            var oldStart = hunk[0].OldLine;
            var newStart = hunk[0].NewLine;
            int oldCount = hunk.Count(o => o.Kind != '+'), newCount = hunk.Count(o => o.Kind != '-');
            sb.Append($"@@ -{Range(oldStart, oldCount)} +{Range(newStart, newCount)} @@\n");
            foreach (var op in hunk) sb.Append(op.Kind).Append(op.Text).Append('\n');
            i = end;
        }
        return sb.ToString();
    }

    private static string Range(int start, int count) =>
        count == 1 ? $"{start + 1}" : count == 0 ? $"{start},0" : $"{start + 1},{count}";

    private readonly record struct Op(char Kind, string Text, int OldLine, int NewLine);

    private static string[] SplitLines(string text)
    {
        var lines = text.Split('\n');
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }

    private static List<Op> Diff(string[] a, string[] b)
    {
        int n = a.Length, m = b.Length, max = n + m, offset = max + 1;
        var v = new int[2 * max + 3];
        var trace = new List<int[]>();
        for (var d = 0; d <= max; d++)
        {
            trace.Add((int[])v.Clone());
            for (var k = -d; k <= d; k += 2)
            {
                var x = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1])
                    ? v[offset + k + 1]
                    : v[offset + k - 1] + 1;
                var y = x - k;
                while (x < n && y < m && a[x] == b[y]) { x++; y++; }
                v[offset + k] = x;
                if (x >= n && y >= m) return Backtrack(trace, a, b, offset, d);
            }
        }
        throw new InvalidOperationException("unreachable: diff exceeded n+m edits");
    }

    private static List<Op> Backtrack(List<int[]> trace, string[] a, string[] b, int offset, int dEnd)
    {
        var ops = new List<Op>();
        int x = a.Length, y = b.Length;
        for (var d = dEnd; d > 0; d--)
        {
            var v = trace[d];
            var k = x - y;
            var prevK = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) ? k + 1 : k - 1;
            var prevX = v[offset + prevK];
            var prevY = prevX - prevK;
            while (x > prevX && y > prevY) { x--; y--; ops.Add(new Op(' ', a[x], x, y)); }
            if (x == prevX) { y--; ops.Add(new Op('+', b[y], x, y)); }
            else { x--; ops.Add(new Op('-', a[x], x, y)); }
        }
        while (x > 0 && y > 0) { x--; y--; ops.Add(new Op(' ', a[x], x, y)); }
        ops.Reverse();
        return ops;
    }
}
