using System.Globalization;
using System.Text;

namespace Largeguest.Ksm;

/// <summary>
/// A transition in progress, as written before the unmerge: the <c>run</c> value to restore and the
/// <c>merge_across_nodes</c> value being set. <see cref="PreviousRun"/> is null when the file could not be read.
/// </summary>
public sealed record KsmJournal(KsmRun? PreviousRun, bool? Target, string Text = "")
{
    public bool Readable => PreviousRun is not null;
}

/// <summary>
/// <c>&lt;StateDir&gt;/ksm.journal</c>: written (atomically) before <c>run</c> becomes 2, removed after <c>run</c>
/// is restored. Found while the host lock is free, it means a transition died part-way.
/// </summary>
public sealed class KsmJournalFile(KsmStateDirectory dir)
{
    private const string PreviousRunKey = "previous_run";

    public KsmJournalFile(string stateDir) : this(new KsmStateDirectory(stateDir)) { }

    public string Path { get; } = dir.JournalPath;

    public KsmJournal? Read()
    {
        var text = Native.ReadStateFile(Path, out var why);
        // a FIFO or symlink there: unreadable, recovered
        if (text is null) return why is null ? null : new KsmJournal(null, null, why);
        KsmRun? run = null;
        bool? target = null;
        foreach (var line in text.Split('\n'))
        {
            var eq = line.IndexOf('=');
            if (eq < 0) continue;
            var (key, v) = (line[..eq].Trim(), line[(eq + 1)..].Trim());
            // only a steady value: a transition never journals unmerge mode as the one to restore
            if (key == PreviousRunKey && KsmFiles.ParseRun(v) is KsmRun r and not KsmRun.Unmerge) run = r;
            else if (key == KsmFiles.MergeAcrossNodes) target = KsmFiles.ParseBit(v);
        }
        return new KsmJournal(run, target, text.Trim());
    }

    public void Write(KsmRun previousRun, bool target, DateTimeOffset now) =>
        StateFile.Write(Path, Encoding.ASCII.GetBytes(
            $"{PreviousRunKey}={KsmFiles.Text(previousRun)}\n{KsmFiles.MergeAcrossNodes}={KsmFiles.Bit(target)}\n" +
            $"pid={Environment.ProcessId}\nstarted={Timestamp.Text(now)}\n"));

    public void Delete()
    {
        try { File.Delete(Path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{Path}: cannot remove the KSM journal: {e.Message}"); }
    }
}
