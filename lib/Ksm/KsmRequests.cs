using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Largeguest.Ksm;

/// <summary>One VM's wish for <c>merge_across_nodes</c>, registered when it starts.</summary>
public sealed record KsmRequest(VmId Vm, bool MergeAcrossNodes, DateTimeOffset Registered);

/// <summary>
/// The request registry: one file per VM under <c>&lt;StateDir&gt;/requests/</c>, named by the VM's UUID, holding
/// <c>merge_across_nodes=0|1</c> and <c>registered_unix_ms=&lt;milliseconds since 1970 UTC&gt;</c> (<c>largeguest ksm
/// status</c> shows it as a date; a number keeps the hook's start-up path lean). Written atomically (temp file +
/// rename), so a reader sees a whole entry or none; <c>/run</c> is empty after a reboot, as is KSM. At most
/// <c>Ksm:MaxRequests</c> entries (<paramref name="max"/>): a registration beyond it is refused, and a directory found
/// holding more is an error, so neither a flood of registrations through the sudo rule nor files put there by hand can
/// make every VM start read thousands of files, and no decision is made on part of the registry.
/// </summary>
public sealed class KsmRequests(KsmStateDirectory dir, int max = KsmRequests.DefaultMax)
{
    public const int DefaultMax = 4096;

    public KsmRequests(string stateDir, int max = DefaultMax) : this(new KsmStateDirectory(stateDir), max) { }

    public string Directory { get; } = dir.RequestsPath;

    public string PathOf(VmId vm) => Path.Combine(Directory, vm.Value);

    public void Register(KsmRequest request)
    {
        if (!File.Exists(PathOf(request.Vm)) && Names().Count is var count && count >= max)
            throw new KsmException(
                $"{Directory}: {count} KSM requests registered, the most Ksm:MaxRequests allows ({max}): " +
                $"VM {request.Vm}'s request is refused ('largeguest ksm status' lists them; " +
                $"a reconcile removes those of VMs libvirt does not know)");
        var text = $"{KsmFiles.MergeAcrossNodes}={KsmFiles.Bit(request.MergeAcrossNodes)}\n" +
                   $"registered_unix_ms=" +
                   $"{request.Registered.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}\n";
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
    /// pruning a stale request under the host lock: a VM registering again meanwhile keeps its fresh entry. The entry
    /// is first renamed aside (atomic), so what is compared is exactly what would be removed; a fresh one found there
    /// is linked back, unless an even newer registration took the name meanwhile. True when the stale entry was
    /// removed.
    /// </summary>
    public bool ReleaseIf(KsmRequest expected)
    {
        var path = PathOf(expected.Vm);
        var aside = Path.Combine(
            Directory, $".{expected.Vm.Value}.{Environment.ProcessId}-{Random.Shared.Next():x8}.prune");
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
                throw new KsmException(
                    $"{path}: cannot put back the VM's fresh KSM request (kept as {aside}): {Native.Describe(errno)}");
            File.Delete(aside);
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{path}: cannot remove the stale KSM request: {e.Message}"); }
    }

    /// <summary>Every readable entry; unreadable or malformed ones are reported through <paramref name="warn"/> and
    /// skipped.</summary>
    public IReadOnlyList<KsmRequest> List(Action<string>? warn = null)
    {
        var result = new List<KsmRequest>();
        var names = Names();
        if (names.Count > max)
            throw new KsmException(
                $"{Directory}: {names.Count} KSM request files, more than Ksm:MaxRequests ({max}); none is read, " +
                "since deciding on part of them could miss a VM's 0 (remove the files no VM owns, or raise the key)");
        foreach (var name in names)
        {
            var path = Path.Combine(Directory, name);
            if (Parse(name, path, out var bad) is { } request) result.Add(request);
            else warn?.Invoke($"{path}: not a KSM request{(bad is null ? "" : $" ({bad})")} " +
                $"(expected: a file named by a VM UUID holding merge_across_nodes=0|1 and registered_unix_ms=N); " +
                $"ignored");
        }
        return result;
    }

    /// <summary>The entries' names, in order; temp files of registrations in flight (and entries being pruned) start
    /// with a dot.</summary>
    private List<string> Names()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        try
        {
            return [.. System.IO.Directory.EnumerateFiles(Directory)
                .Select(p => Path.GetFileName(p))
                .Where(n => !n.StartsWith('.'))
                .Order(StringComparer.Ordinal)];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmException($"{Directory}: cannot list the KSM requests: {e.Message}"); }
    }

    /// <summary>The registration times a <see cref="DateTimeOffset"/> can hold (years 1970 to 9999).</summary>
    private const long MaxUnixMs = 253_402_300_799_999;

    /// <summary>The entry, or null with <paramref name="bad"/> naming the bad token when there is one to
    /// name.</summary>
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
                // a corrupt time is a corrupt entry (skipped, reported), never an exception that stops every VM's KSM
                // work
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
