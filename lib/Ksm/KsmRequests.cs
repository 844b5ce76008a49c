using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Largeguest.Ksm;

/// <summary>One VM's wish for <c>merge_across_nodes</c>, registered when it starts.</summary>
public sealed record KsmRequest(VmId Vm, bool MergeAcrossNodes, DateTimeOffset Registered);

/// <summary>
/// The request registry: one file per VM under <c>&lt;StateDir&gt;/requests/</c>, named by the VM's UUID,
/// holding <c>merge_across_nodes=0|1</c> and <c>registered_unix_ms=&lt;milliseconds since 1970 UTC&gt;</c>
/// (<c>largeguest ksm status</c> shows it as a date; a number keeps the hook's start-up path lean). Written atomically
/// (temp file + rename), so a reader sees a whole entry or none; <c>/run</c> is empty after a reboot,
/// as is KSM.
/// </summary>
public sealed class KsmRequests(KsmStateDirectory dir)
{
    public KsmRequests(string stateDir) : this(new KsmStateDirectory(stateDir)) { }

    public string Directory { get; } = dir.RequestsPath;

    public string PathOf(VmId vm) => Path.Combine(Directory, vm.Value);

    public void Register(KsmRequest request)
    {
        var text = $"{KsmFiles.MergeAcrossNodes}={KsmFiles.Bit(request.MergeAcrossNodes)}\n" +
                   $"registered_unix_ms={request.Registered.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}\n";
        StateFile.Write(PathOf(request.Vm), Encoding.ASCII.GetBytes(text));
    }

    /// <summary>Removes the VM's entry; true when there was one.</summary>
    public bool Release(VmId vm)
    {
        try
        {
            if (!File.Exists(PathOf(vm))) return false;
            File.Delete(PathOf(vm));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{PathOf(vm)}: cannot remove the KSM request: {e.Message}"); }
    }

    /// <summary>
    /// Removes the VM's entry only if it still is <paramref name="expected"/> (same value and registration time), for
    /// pruning a stale request under the host lock: a VM registering again meanwhile keeps its fresh entry. The entry is
    /// first renamed aside (atomic), so what is compared is exactly what would be removed; a fresh one found there is
    /// linked back, unless an even newer registration took the name meanwhile. True when the stale entry was removed.
    /// </summary>
    public bool ReleaseIf(KsmRequest expected)
    {
        var path = PathOf(expected.Vm);
        var aside = Path.Combine(Directory, $".{expected.Vm.Value}.{Environment.ProcessId}-{Random.Shared.Next():x8}.prune");
        try
        {
            if (Native.Rename(path, aside) != 0)
            {
                var gone = Marshal.GetLastPInvokeError();
                if (gone == Native.ENOENT) return false;
                throw new KsmException($"{path}: cannot remove the stale KSM request: {Native.Describe(gone)}");
            }
            if (Parse(expected.Vm.Value, aside, out _) == expected) { File.Delete(aside); return true; }
            if (Native.Link(aside, path) != 0 && Marshal.GetLastPInvokeError() is var errno && errno != Native.EEXIST)
                throw new KsmException($"{path}: cannot put back the VM's fresh KSM request (kept as {aside}): {Native.Describe(errno)}");
            File.Delete(aside);
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{path}: cannot remove the stale KSM request: {e.Message}"); }
    }

    /// <summary>Every readable entry; unreadable or malformed ones are reported through <paramref name="warn"/> and skipped.</summary>
    public IReadOnlyList<KsmRequest> List(Action<string>? warn = null)
    {
        var result = new List<KsmRequest>();
        if (!System.IO.Directory.Exists(Directory)) return result;
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith('.')) continue; // a temp file of a registration in flight
            if (Parse(name, path, out var bad) is { } request) result.Add(request);
            else warn?.Invoke($"{path}: not a KSM request{(bad is null ? "" : $" ({bad})")} (expected: a file named by a VM UUID holding merge_across_nodes=0|1 and registered_unix_ms=N); ignored");
        }
        return result;
    }

    /// <summary>The registration times a <see cref="DateTimeOffset"/> can hold (years 1970 to 9999).</summary>
    private const long MaxUnixMs = 253_402_300_799_999;

    /// <summary>The entry, or null with <paramref name="bad"/> naming the bad token when there is one to name.</summary>
    private static KsmRequest? Parse(string name, string path, out string? bad)
    {
        bad = null;
        if (!VmId.TryParse(name, out var vm)) return null;
        var text = Native.ReadStateFile(path, out bad);
        if (text is null) return null;
        bool? value = null;
        DateTimeOffset? registered = null;
        foreach (var line in text.Split('\n'))
        {
            var eq = line.IndexOf('=');
            if (eq < 0) continue;
            var (key, v) = (line[..eq].Trim(), line[(eq + 1)..].Trim());
            if (key == KsmFiles.MergeAcrossNodes) value = KsmFiles.ParseBit(v);
            else if (key == "registered_unix_ms")
            {
                // a corrupt time is a corrupt entry (skipped, reported), never an exception that stops every VM's KSM work
                if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms > MaxUnixMs)
                {
                    bad = $"bad registered_unix_ms '{Printable(v)}'";
                    return null;
                }
                registered = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            }
        }
        if (value is null) return null;
        registered ??= new DateTimeOffset(File.GetLastWriteTimeUtc(path), TimeSpan.Zero);
        return new KsmRequest(vm, value.Value, registered.Value);
    }

    private static string Printable(string token) =>
        new([.. (token.Length > 40 ? token[..40] + "..." : token).Select(c => char.IsControl(c) ? '?' : c)]);
}

/// <summary>
/// Small state files under Ksm:StateDir, written by the product's one atomic writer
/// (<see cref="Largeguest.IO.AtomicFile"/>, mode 0644). Deliberately no fsync: the state lives in /run, which is empty
/// after a reboot exactly like KSM itself, so the only failure that matters is the death of a process, and the
/// writer is all-or-nothing for that.
/// </summary>
internal static class StateFile
{
    private const UnixFileMode DirMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode FileMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static void EnsureDirectory(string dir)
    {
        try { System.IO.Directory.CreateDirectory(dir, DirMode); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{dir}: cannot create the KSM state directory: {e.Message}"); }
    }

    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        var dir = Path.GetDirectoryName(path)!;
        EnsureDirectory(dir);
        try { Largeguest.IO.AtomicFile.Write(path, content, durable: false, FileMode); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{path}: cannot write: {e.Message}"); }
    }
}
