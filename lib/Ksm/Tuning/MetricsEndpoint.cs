using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// A minimal HTTP/1.1 server for one resource: <c>GET /metrics</c> answers the Prometheus text, <c>GET /</c> a
/// pointer to it, anything else 404/405. One request per connection (Connection: close), request head at most
/// 8 KiB, 2 s to send it, 64 connections at a time: a few idle connections cannot starve a real scraper, and an
/// idle one costs an 8 KiB buffer for at most 2 s.
/// (No HttpListener: the daemon stays small, see docs/ksmtune.md.)
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private const int MaxHead = 8192;
    private const int MaxConcurrent = 64;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(2);

    private readonly TcpListener _listener;
    private readonly Func<string> _render;
    private readonly DaemonLog _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots = new(MaxConcurrent);
    private Task? _accepting;

    public MetricsEndpoint(IPEndPoint endpoint, Func<string> render, DaemonLog log)
    {
        _listener = new TcpListener(endpoint);
        _render = render;
        _log = log;
    }

    /// <summary>The bound address (the port is the real one when 0 was asked).</summary>
    public IPEndPoint Bound => (IPEndPoint)_listener.LocalEndpoint;

    public void Start()
    {
        try { _listener.Start(); }
        catch (SocketException e)
        {
            throw new KsmTuneException($"cannot listen on {_listener.LocalEndpoint} (KsmTune:Listen): {e.Message}");
        }
        _accepting = AcceptLoop();
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e) { _log.Warning($"metrics endpoint: accept failed: {e.Message}"); continue; }
            if (!await _slots.WaitAsync(0)) { client.Dispose(); continue; } // busy: drop rather than queue
            _ = Serve(client);
        }
    }

    private async Task Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(ReadTimeout);
            var stream = client.GetStream();
            var head = await ReadHead(stream, timeout.Token);
            var (status, type, body) = Respond(head);
            var bytes = Encoding.UTF8.GetBytes(body);
            var header = $"HTTP/1.1 {status}\r\nContent-Type: {type}\r\nContent-Length: {bytes.Length}\r\n" +
                "Connection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(header), timeout.Token);
            if (!head.StartsWith("HEAD ", StringComparison.Ordinal)) await stream.WriteAsync(bytes, timeout.Token);
        }
        catch (Exception e)
            when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        catch (Exception e) { _log.Warning($"metrics endpoint: {e.GetType().Name}: {e.Message}"); }
        finally { _slots.Release(); }
    }

    /// <summary>The request head up to the blank line (or what arrived of it before 8 KiB).</summary>
    private static async Task<string> ReadHead(NetworkStream stream, CancellationToken token)
    {
        var buffer = new byte[MaxHead];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(length), token);
            if (n == 0) break;
            length += n;
            if (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) >= 0 || buffer.AsSpan(0, length).IndexOf("\n\n"u8) >= 0)
                break;
        }
        return Encoding.ASCII.GetString(buffer, 0, length);
    }

    private (string Status, string Type, string Body) Respond(string head)
    {
        const string text = "text/plain; charset=utf-8";
        var line = head.Split('\n')[0].TrimEnd('\r');
        var parts = line.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            return ("400 Bad Request", text, "bad request\n");
        if (parts[0] is not ("GET" or "HEAD")) return ("405 Method Not Allowed", text, "only GET\n");
        var path = parts[1].Split('?')[0];
        return path switch
        {
            "/metrics" => ("200 OK", PrometheusText.ContentType, _render()),
            "/" => ("200 OK", text, "largeguest KSM tuner: metrics at /metrics\n"),
            _ => ("404 Not Found", text, "not found: try /metrics\n"),
        };
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        if (_accepting is not null) await _accepting;
        _stop.Dispose();
    }
}
