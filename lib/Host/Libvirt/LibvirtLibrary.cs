using System.Reflection;
using System.Runtime.InteropServices;

namespace Largeguest.Host.Libvirt;

/// <summary>
/// Loads <c>libvirt.so.0</c> on first use, not at start-up: a host (or a hook run) that never needs libvirt
/// never loads it, and a host without libvirt gets a <see cref="LibvirtException"/> rather than a crash.
/// Also silences libvirt's default error handler, which would print every error to stderr on its own
/// (we report libvirt's message ourselves, on one line).
/// </summary>
public static class LibvirtLibrary
{
    private static readonly Lock Gate = new();
    private static nint _handle;
    private static string? _failure;

    /// <summary>Loads the library (once); throws <see cref="LibvirtException"/> when it is not there.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_handle != 0) return;
            if (_failure is not null) throw new LibvirtException(_failure);
            if (!NativeLibrary.TryLoad(Native.Library, out _handle))
            {
                _failure = CannotLoad(Native.Library); throw new LibvirtException(_failure);
            }
            NativeLibrary.SetDllImportResolver(typeof(LibvirtLibrary).Assembly, Resolve);
            unsafe { Native.virSetErrorFunc(0, &IgnoreError); }
        }
    }

    /// <summary>Whether <paramref name="name"/> can be loaded: null if so, else why not.</summary>
    public static string? Probe(string name)
    {
        if (!NativeLibrary.TryLoad(name, out var handle)) return CannotLoad(name);
        NativeLibrary.Free(handle);
        return null;
    }

    private static string CannotLoad(string name) =>
        $"libvirt: {name} cannot be loaded (is the libvirt client library installed? on EL9: dnf install libvirt-libs)";

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name == Native.Library ? _handle : 0;

    [UnmanagedCallersOnly]
    private static void IgnoreError(nint userData, nint error) { }
}

/// <summary>A libvirt call failed; the message is libvirt's own (<c>virGetLastErrorMessage</c>).</summary>
public sealed class LibvirtException(string message, int code = 0) : Exception(message)
{
    /// <summary>libvirt's <c>virErrorNumber</c> (0 when the failure was not libvirt's own, e.g. a missing
    /// library).</summary>
    public int Code { get; } = code;

    /// <summary>The error libvirt recorded for this thread, prefixed with what we were doing.</summary>
    internal static LibvirtException Last(string what)
    {
        var code = Native.virGetLastErrorCode();
        var message = Marshal.PtrToStringUTF8(Native.virGetLastErrorMessage()) ?? "unknown error";
        return new LibvirtException($"libvirt: {what}: {message}", code);
    }
}
