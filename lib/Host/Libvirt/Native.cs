using System.Runtime.InteropServices;

namespace Largeguest.Host.Libvirt;

/// <summary>
/// The libvirt C functions we call, and nothing else (libvirt's public API, <c>libvirt.h</c>). Every
/// pointer libvirt hands back is owned by a SafeHandle (<see cref="ConnectHandle"/>, <see cref="DomainHandle"/>)
/// or, for strings, copied and released with <c>free()</c> at once (<see cref="Connect.TakeString"/>).
/// Strings passed in are marshalled as UTF-8 by the source generator; no string is ever returned by
/// marshalling, because the generated code would free it with the wrong allocator or not at all.
/// </summary>
internal static unsafe partial class Native
{
    public const string Library = "libvirt.so.0";

    // virConnectPtr virConnectOpenReadOnly(const char *name)
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial ConnectHandle virConnectOpenReadOnly(string? name);

    // int virConnectClose(virConnectPtr conn)
    [LibraryImport(Library)]
    public static partial int virConnectClose(nint conn);

    // char *virConnectGetCapabilities(virConnectPtr conn): the caller frees the result with free()
    [LibraryImport(Library)]
    public static partial nint virConnectGetCapabilities(ConnectHandle conn);

    // int virGetVersion(unsigned long *libVer, const char *type, unsigned long *typeVer): no connection needed
    [LibraryImport(Library)]
    public static partial int virGetVersion(nuint* libVer, nint type, nuint* typeVer);

    // int virConnectGetLibVersion(virConnectPtr conn, unsigned long *libVer)
    [LibraryImport(Library)]
    public static partial int virConnectGetLibVersion(ConnectHandle conn, nuint* libVer);

    // int virNodeGetCellsFreeMemory(virConnectPtr conn, unsigned long long *freeMems, int startCell, int maxCells):
    // bytes
    [LibraryImport(Library)]
    public static partial int virNodeGetCellsFreeMemory(ConnectHandle conn, ulong* freeMems,
        int startCell, int maxCells);

    // int virNodeGetFreePages(virConnectPtr conn, unsigned int npages, unsigned int *pages, int startCell,
    //                         unsigned int cellCount, unsigned long long *counts, unsigned int flags)
    [LibraryImport(Library)]
    public static partial int virNodeGetFreePages(ConnectHandle conn, uint npages, uint* pages,
        int startCell, uint cellCount, ulong* counts, uint flags);

    // virDomainPtr virDomainLookupByUUIDString(virConnectPtr conn, const char *uuidstr)
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial DomainHandle virDomainLookupByUUIDString(ConnectHandle conn, string uuid);

    // int virDomainFree(virDomainPtr domain)
    [LibraryImport(Library)]
    public static partial int virDomainFree(nint domain);

    // const char *virGetLastErrorMessage(void): thread-local, owned by libvirt, never freed by the caller
    [LibraryImport(Library)]
    public static partial nint virGetLastErrorMessage();

    // int virGetLastErrorCode(void)
    [LibraryImport(Library)]
    public static partial int virGetLastErrorCode();

    // void virSetErrorFunc(void *userData, virErrorFunc handler)
    [LibraryImport(Library)]
    public static partial void virSetErrorFunc(nint userData, delegate* unmanaged<nint, nint, void> handler);
}

/// <summary>An open <c>virConnectPtr</c>; released with <c>virConnectClose</c>.</summary>
internal sealed class ConnectHandle() : SafeHandle(0, ownsHandle: true)
{
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle() => Native.virConnectClose(handle) >= 0;
}

/// <summary>A <c>virDomainPtr</c>; released with <c>virDomainFree</c>.</summary>
internal sealed class DomainHandle() : SafeHandle(0, ownsHandle: true)
{
    public override bool IsInvalid => handle == 0;
    protected override bool ReleaseHandle() => Native.virDomainFree(handle) >= 0;
}
