using System.Globalization;
using Largeguest.IO;

namespace Largeguest.Ksm;

/// <summary>
/// <c>Ksm:StateDir</c> and the names in it: the host lock, the transition journal and the request registry are
/// all found here and nowhere else. Before privileged code uses it, <see cref="CheckTrusted"/> makes sure nobody but
/// root can change what is in it (docs/ksm.md, "State directory").
/// </summary>
public sealed class KsmStateDirectory(string path)
{
    public const string LockFileName = "ksm.lock";
    public const string JournalFileName = "ksm.journal";
    public const string RequestsDirectoryName = "requests";

    public string Path { get; } = path;

    public string LockPath => System.IO.Path.Combine(Path, LockFileName);
    public string JournalPath => System.IO.Path.Combine(Path, JournalFileName);
    public string RequestsPath => System.IO.Path.Combine(Path, RequestsDirectoryName);

    public KsmJournalFile Journal => new(this);

    /// <summary>Creates the directory when missing (mode 0755, like the packaged tmpfiles.d line).</summary>
    public void Ensure() => StateFile.EnsureDirectory(Path);

    /// <summary>Takes the host-wide KSM lock (creating the directory first when missing).</summary>
    public HostLock Lock(TimeSpan timeout)
    {
        Ensure();
        return HostLock.Acquire(LockPath, timeout);
    }

    /// <summary>Is the host lock free right now (see <see cref="HostLock.IsFree"/>)?</summary>
    public bool LockFree => HostLock.IsFree(LockPath);

    /// <summary>
    /// For privileged code, before it reads or writes anything here: creates the directory when missing, then
    /// requires it (and <c>requests/</c> when present) to be owned by root (or this process's user) and writable by
    /// nobody else, and every directory above it to be owned by root (or this user) and writable by others only
    /// when sticky (<c>/tmp</c>). Throws a <see cref="KsmException"/> naming the path, its owner and its mode.
    /// </summary>
    public void CheckTrusted()
    {
        var full = System.IO.Path.GetFullPath(Path);
        var euid = Native.Geteuid();
        var ancestors = new List<string>();
        for (var dir = System.IO.Path.GetDirectoryName(full);
            dir is not null;
            dir = System.IO.Path.GetDirectoryName(dir))
            ancestors.Add(dir);
        ancestors.Reverse(); // from "/" down: a problem high up is named first
        foreach (var dir in ancestors) Check(dir, euid, DirectoryRole.Ancestor, full);
        StateFile.EnsureDirectory(full);
        Check(full, euid, DirectoryRole.StateDirectory, full);
        var requests = System.IO.Path.Combine(full, RequestsDirectoryName);
        if (Directory.Exists(requests)) Check(requests, euid, DirectoryRole.StateDirectory, full);
    }

    public enum DirectoryRole
    {
        /// <summary>Ksm:StateDir itself or a directory in it: nobody but its owner may write.</summary>
        StateDirectory,
        /// <summary>A directory above it: others may write only when it is sticky (they cannot rename or remove what is
        /// not theirs).</summary>
        Ancestor,
    }

    private const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_ISVTX = 0x200, GroupWrite = 0x10, OtherWrite = 0x2;

    /// <summary>Why a directory with this owner and mode cannot be trusted, or null when it can. Pure.</summary>
    public static string? Distrust(uint uid, uint mode, uint euid, DirectoryRole role)
    {
        if ((mode & S_IFMT) != S_IFDIR) return "not a directory";
        if (uid != 0 && uid != euid) return "not owned by root";
        if ((mode & (GroupWrite | OtherWrite)) == 0) return null;
        if (role == DirectoryRole.Ancestor && (mode & S_ISVTX) != 0) return null;
        return role == DirectoryRole.Ancestor
            ? "writable by others and not sticky"
            : "writable by others than its owner";
    }

    /// <summary>A mode as <c>ls</c> and <c>chmod</c> spell it: 4 octal digits (1777, 0755).</summary>
    public static string Octal(uint mode) => Convert.ToString(mode & 0xFFF, 8).PadLeft(4, '0');

    private static void Check(string dir, uint euid, DirectoryRole role, string stateDir)
    {
        uint uid, mode;
        try { (uid, mode) = RegularFile.Owner(dir); }
        catch (IOException e) { throw new KsmException($"{dir}: cannot check the KSM state directory: {e.Message}"); }
        if (Distrust(uid, mode, euid, role) is not { } why) return;
        var what = dir == stateDir ? "the KSM state directory (Ksm:StateDir)"
            : role == DirectoryRole.Ancestor ? $"above the KSM state directory {stateDir}"
            : "in the KSM state directory";
        throw new KsmException(
            $"{dir} ({what}) is {why}: owner uid {uid.ToString(CultureInfo.InvariantCulture)}, mode {Octal(mode)}; " +
            "the privileged KSM code uses it only when root owns it and nobody else can write to it " +
            "(docs/ksm.md, \"State directory\"); nothing was changed");
    }
}
