using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using Largeguest.Admin;

namespace Largeguest.Tests.Admin;

public class UnifiedDiffTests
{
    [Fact]
    public void Equal_texts_give_no_diff() =>
        UnifiedDiff.Create("a\nb\n", "a\nb\n", "a/x", "b/x").Should().BeEmpty();

    [Fact]
    public void Shows_an_insertion_with_three_lines_of_context()
    {
        var old = string.Join("\n", Enumerable.Range(1, 10).Select(i => $"line{i}")) + "\n";
        var @new = old.Replace("line5\n", "line5\ninserted\n");
        UnifiedDiff.Create(old, @new, "a/x", "b/x").Should().Be(
            "--- a/x\n+++ b/x\n@@ -3,6 +3,7 @@\n line3\n line4\n line5\n+inserted\n line6\n line7\n line8\n");
    }

    [Fact]
    public void Separate_changes_far_apart_get_separate_hunks()
    {
        var lines = Enumerable.Range(1, 30).Select(i => $"l{i}").ToList();
        var old = string.Join("\n", lines) + "\n";
        lines[1] = "changed2";
        lines[25] = "changed26";
        var diff = UnifiedDiff.Create(old, string.Join("\n", lines) + "\n", "a", "b");
        diff.Split('\n').Count(l => l.StartsWith("@@")).Should().Be(2);
    }

    /// <summary>GNU patch is the judge: the diff of any two texts, applied to the first, gives the second.</summary>
    [Fact]
    public void Patch_applies_every_generated_diff_and_reproduces_the_new_text()
    {
        var line = Gen.Elements("a", "b", "c", "<x/>", "  <y a='1'/>", "");
        var text = Gen.ListOf(line).Select(l => string.Join("\n", l) + "\n");
        var cases = Gen.Zip(text, text).Sample(60, 200);
        var dir = Directory.CreateTempSubdirectory("diff-").FullName;
        try
        {
            var checkedCases = 0;
            foreach (var (oldText, newText) in cases)
            {
                var diff = UnifiedDiff.Create(oldText, newText, "a/f", "b/f");
                if (oldText == newText) { diff.Should().BeEmpty(); continue; }
                var file = Path.Combine(dir, "f");
                File.WriteAllText(file, oldText);
                var psi = new ProcessStartInfo("patch", ["--quiet", "--force", "--no-backup-if-mismatch", file])
                { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
                using var p = Process.Start(psi) ?? throw new InvalidOperationException("GNU patch is required " +
                    "(Debian package patch)");
                p.StandardInput.Write(diff);
                p.StandardInput.Close();
                var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
                p.WaitForExit();
                p.ExitCode.Should().Be(0, $"patch must accept the diff:\n{diff}\n{output}");
                File.ReadAllText(file).Should().Be(newText, $"diff was:\n{diff}");
                checkedCases++;
            }
            checkedCases.Should().BeGreaterThan(30);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
