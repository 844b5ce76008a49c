using System.Runtime.InteropServices;

namespace Largeguest.Host.Libvirt;

/// <summary>
/// A read-only libvirt connection (<c>virConnectOpenReadOnly</c>: no SASL, no write access, which is what
/// oVirt hosts allow a hook). Disposing closes it; a forgotten one is closed by its SafeHandle.
/// </summary>
public sealed class Connect : IDisposable
{
    /// <summary>libvirt's VIR_ERR_NO_DOMAIN.</summary>
    public const int ErrorNoDomain = 42;

    internal ConnectHandle Handle { get; }
    public string Uri { get; }

    private Connect(ConnectHandle handle, string uri)
    {
        Handle = handle;
        Uri = uri;
    }

    public static Connect OpenReadOnly(string uri)
    {
        LibvirtLibrary.EnsureLoaded();
        var handle = Native.virConnectOpenReadOnly(uri);
        if (handle.IsInvalid)
        {
            var error = LibvirtException.Last($"cannot open {uri}");
            handle.Dispose();
            throw error;
        }
        return new Connect(handle, uri);
    }

    /// <summary>The host capabilities XML (<c>virConnectGetCapabilities</c>).</summary>
    public string GetCapabilities() =>
        TakeString(Native.virConnectGetCapabilities(Handle)) ?? throw LibvirtException.Last($"{Uri}: cannot read " +
            "capabilities");

    /// <summary>libvirt's version as major * 1,000,000 + minor * 1,000 + release.</summary>
    public unsafe ulong LibVersion
    {
        get
        {
            nuint version;
            if (Native.virConnectGetLibVersion(Handle, &version) < 0) throw LibvirtException.Last($"{Uri}: cannot " +
                "read the libvirt version");
            return version;
        }
    }

    /// <summary>The loaded client library's version (<c>virGetVersion</c>), without a connection.</summary>
    public static unsafe Version LibraryVersion()
    {
        LibvirtLibrary.EnsureLoaded();
        nuint version;
        if (Native.virGetVersion(&version, 0, null) < 0) throw LibvirtException.Last("cannot read the library version");
        return ToVersion(version);
    }

    /// <summary>libvirt's packed version number (major * 1,000,000 + minor * 1,000 + release) as a
    /// <see cref="Version"/>.</summary>
    public static Version ToVersion(ulong packed)
        => new((int)(packed / 1_000_000), (int)(packed / 1000 % 1000), (int)(packed % 1000));

    /// <summary>Does libvirt know a domain with this UUID (running or defined)?</summary>
    public bool DomainExists(string uuid)
    {
        using var handle = Native.virDomainLookupByUUIDString(Handle, uuid);
        if (!handle.IsInvalid) return true;
        var error = LibvirtException.Last($"{Uri}: cannot look up domain {uuid}");
        if (error.Code == ErrorNoDomain) return false;
        throw error;
    }

    public void Dispose() => Handle.Dispose();

    /// <summary>Copies a string libvirt allocated for the caller and frees it with <c>free()</c>, as libvirt
    /// requires.</summary>
    internal static unsafe string? TakeString(nint text)
    {
        if (text == 0) return null;
        try { return Marshal.PtrToStringUTF8(text); }
        finally { NativeMemory.Free((void*)text); } // NativeMemory.Free is the C library's free() on Linux
    }
}

/// <summary>The node (host) calls: free memory per NUMA cell and free pages per size.</summary>
public static class Node
{
    /// <summary>Free memory in bytes of cells <paramref name="startCell"/>..
    /// (<c>virNodeGetCellsFreeMemory</c>).</summary>
    public static unsafe ulong[] GetCellsFreeMemory(Connect connect, int startCell, int maxCells)
    {
        var free = new ulong[maxCells];
        int n;
        fixed (ulong* p = free) n = Native.virNodeGetCellsFreeMemory(connect.Handle, p, startCell, maxCells);
        if (n < 0) throw LibvirtException.Last($"{connect.Uri}: cannot read free memory of NUMA cell {startCell}");
        return free[..n];
    }

    /// <summary>
    /// Free pages of each size (KiB) on each of <paramref name="cellCount"/> cells from <paramref name="startCell"/>
    /// (<c>virNodeGetFreePages</c>): result[cell][size index].
    /// </summary>
    public static unsafe ulong[][] GetFreePages(Connect connect, IReadOnlyList<uint> pageSizesKiB,
        int startCell, int cellCount)
    {
        var sizes = pageSizesKiB.ToArray();
        var counts = new ulong[sizes.Length * cellCount];
        int n;
        fixed (uint* s = sizes)
        fixed (ulong* c = counts)
            n = Native.virNodeGetFreePages(connect.Handle, (uint)sizes.Length, s, startCell, (uint)cellCount, c, 0);
        if (n < 0) throw LibvirtException.Last($"{connect.Uri}: cannot read free pages of NUMA cell {startCell}");
        return [.. Enumerable.Range(0, cellCount)
            .Select(cell => counts[(cell * sizes.Length)..((cell + 1) * sizes.Length)])];
    }
}
