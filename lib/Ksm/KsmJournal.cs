using System.Globalization;
using System.Text;

namespace Largeguest.Ksm;

/// <summary>
/// A transition in progress, as written before the unmerge: the <c>run</c> value to restore and the
/// <c>merge_across_nodes</c> value being set. <see cref="PreviousRun"/> is null when the file could not be read.
/// </summary>
public sealed record KsmJournal(int? PreviousRun, bool? Target, string Text = "")
{
    public bool Readable => PreviousRun is not null;
}

/// <summary>
/// <c>&lt;StateDir&gt;/ksm.journal</c>: written (atomically) before <c>run</c> becomes 2, removed after <c>run</c>
/// is restored. Found while the host lock is free, it means a transition died part-way.
/// </summary>
public sealed class KsmJournalFile(string stateDir)
{
    public const string FileName = "ksm.journal";

    public string Path { get; } = System.IO.Path.Combine(stateDir, FileName);

    public KsmJournal? Read()
    {
        var text = Native.ReadStateFile(Path, out var why);
        if (text is null) return why is null ? null : new KsmJournal(null, null, why); // a FIFO or symlink there: unreadable, recovered
        int? run = null;
        bool? target = null;
        foreach (var line in text.Split('\n'))
        {
            var eq = line.IndexOf('=');
            if (eq < 0) continue;
            var (key, v) = (line[..eq].Trim(), line[(eq + 1)..].Trim());
            if (key == "previous_run" && v is "0" or "1") run = int.Parse(v, CultureInfo.InvariantCulture);
            else if (key == "merge_across_nodes") target = v switch { "0" => false, "1" => true, _ => null };
        }
        return new KsmJournal(run, target, text.Trim());
    }

    public void Write(int previousRun, bool target, DateTimeOffset now) =>
        StateFile.Write(Path, Encoding.ASCII.GetBytes(
            $"previous_run={previousRun}\nmerge_across_nodes={(target ? 1 : 0)}\n" +
            $"pid={Environment.ProcessId}\nstarted={now.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)}\n"));

    public void Delete()
    {
        try { File.Delete(Path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{Path}: cannot remove the KSM journal: {e.Message}"); }
    }
}
