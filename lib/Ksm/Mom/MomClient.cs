using System.Net;
using System.Net.Sockets;

namespace Largeguest.Ksm.Mom;

/// <summary>
/// MoM's XML-RPC API over its socket (<c>rpc-port</c>): only the calls we make. Every failure (no socket, refused,
/// timeout, fault, a malformed answer) is a <see cref="MomException"/> naming the endpoint and the method.
/// </summary>
public sealed class MomClient(MomEndpoint endpoint, TimeSpan? timeout = null)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _timeout = timeout ?? DefaultTimeout;

    public MomEndpoint Endpoint { get; } = endpoint;

    public bool Ping() => Call("ping") is true;

    /// <summary>Sets (or with null removes) a named policy; false: MoM refused it (the policies did not parse
    /// together).</summary>
    public bool SetNamedPolicy(string name, string? policy) => Call("setNamedPolicy", name, policy) is true;

    public IReadOnlyDictionary<string, string> GetNamedPolicies() =>
        Call("getNamedPolicies") is IReadOnlyDictionary<string, object?> d
            ? d.ToDictionary(kv => kv.Key, kv => kv.Value as string ?? "", StringComparer.Ordinal)
            : throw new MomException($"MoM at {Endpoint}: getNamedPolicies did not return a struct");

    /// <summary>MoM's latest host sample (<c>getStatistics()["host"]</c>): ksm_*, mem_* ...</summary>
    public IReadOnlyDictionary<string, object?> GetHostStatistics() =>
        Call("getStatistics") is IReadOnlyDictionary<string, object?> d
            && d.GetValueOrDefault("host") is IReadOnlyDictionary<string, object?> host
            ? host
            : throw new MomException($"MoM at {Endpoint}: getStatistics did not return a struct with 'host'");

    public object? Call(string method, params object?[] parameters)
    {
        if (Endpoint.Disabled)
            throw new MomException($"MoM's RPC is off (its rpc-port is negative): cannot call {method}");
        var request = XmlRpc.HttpRequest(XmlRpc.MethodCall(method, parameters));
        byte[] response;
        try { response = Exchange(request); }
        catch (SocketException e)
        {
            var why = e.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported => "no such socket",
                SocketError.ConnectionRefused => "connection refused (MoM not running?)",
                SocketError.TimedOut or SocketError.WouldBlock => $"no answer within {_timeout.TotalSeconds:0.#} s",
                _ => e.Message,
            };
            throw new MomException($"MoM at {Endpoint} did not answer {method}: {why}");
        }
        try { return XmlRpc.ParseHttpResponse(response); }
        catch (Exception e) when (e is XmlRpcFaultException or XmlRpcFormatException)
        { throw new MomException($"MoM at {Endpoint} answered {method} with {e.Message}"); }
    }

    /// <summary>
    /// Blocking calls with the socket's own timeouts (no thread pool, no event loop: a hook's start-up stays lean).
    /// A local connect does not wait: it succeeds, or fails at once (no socket, nobody listening).
    /// </summary>
    private byte[] Exchange(byte[] request)
    {
        var (family, protocol, address) = Endpoint.SocketPath is string path
            ? (AddressFamily.Unix, ProtocolType.Unspecified, (EndPoint)new UnixDomainSocketEndPoint(path))
            : (AddressFamily.InterNetwork, ProtocolType.Tcp,
                new IPEndPoint(IPAddress.Loopback, Endpoint.TcpPort!.Value));
        using var socket = new Socket(family, SocketType.Stream, protocol);
        var ms = (int)_timeout.TotalMilliseconds;
        (socket.SendTimeout, socket.ReceiveTimeout) = (ms, ms);
        socket.Connect(address);
        for (var sent = 0; sent < request.Length;)
            sent += socket.Send(request, sent, request.Length - sent, SocketFlags.None);
        using var answer = new MemoryStream();
        var buffer = new byte[16384];
        var deadline = Environment.TickCount64 + ms;
        for (int n; (n = socket.Receive(buffer)) > 0;)
        {
            answer.Write(buffer, 0, n);
            if (Environment.TickCount64 > deadline)
                throw new SocketException((int)SocketError.TimedOut); // a trickling answer
        }
        return answer.ToArray();
    }
}
