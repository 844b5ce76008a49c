using System.Diagnostics;

namespace Largeguest.Tests.E2E;

/// <summary>What one external command did.</summary>
public sealed record CmdResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;

    /// <summary>The stdout of a command that must succeed; otherwise an exception quoting the command and its
    /// stderr.</summary>
    public string OrThrow() => Ok ? Stdout
        : throw new InvalidOperationException(($"`{Command}` failed with exit {ExitCode}: {Stderr.Trim()} " +
            $"{Stdout.Trim()}").TrimEnd());
}

/// <summary>Runs an external command with a time limit, capturing its output (no shell).</summary>
public static class Cmd
{
    /// <summary>The <c>KEY=value</c> lines a start script prints (scripts/e2e/*): its results.</summary>
    public static Dictionary<string, string> KeyValues(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2))
            .Where(kv => kv.Length == 2)
            .ToDictionary(kv => kv[0], kv => kv[1].Trim());

    /// <summary>A word for a bash script: single-quoted.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''") + "'";

    public static CmdResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        var text = file + " " + string.Join(' ', psi.ArgumentList);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start `{text}`");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"`{text}` did not finish within {limit.TotalSeconds:0} s; stderr so far: " +
                $"{stderr.Result.Trim()}");
        }
        return new CmdResult(text, p.ExitCode, stdout.Result, stderr.Result);
    }
}
