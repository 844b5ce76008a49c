using System.Net.Sockets;
using System.Text;

namespace Largeguest.IO;

/// <summary>
/// The host's syslog socket (journald's or rsyslog's <c>/dev/log</c>), for the records an admin must find outside
/// vdsm.log: VDSM's sudoers rule sets <c>!syslog</c>, so sudo itself leaves no trace of the root helper.
/// </summary>
public static class Syslog
{
    public const string SocketPath = "/dev/log";
    private const int DaemonFacility = 3 << 3;

    public enum Severity { Error = 3, Warning = 4, Notice = 5 }

    /// <summary>
    /// One record, tag <c>largeguest</c>, facility daemon. Best effort: on a host without a syslog socket only this
    /// copy is lost (the hook's stderr, and so vdsm.log, still has every line).
    /// </summary>
    public static void Send(Severity severity, string message, string path = SocketPath)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            socket.Send(Encoding.UTF8.GetBytes(
                $"<{DaemonFacility + (int)severity}>largeguest[{Environment.ProcessId}]: {message}"));
        }
        catch (SocketException) { }
    }
}
