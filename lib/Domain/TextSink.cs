using System.Text;

namespace Largeguest.Domain;

/// <summary>Where <see cref="XmlSerializer"/> writes: text for people (<see cref="StringSink"/>) or the file's bytes
/// (<see cref="Utf8Sink"/>).</summary>
internal abstract class TextSink
{
    public abstract TextSink Append(char c);
    public abstract TextSink Append(ReadOnlySpan<char> s);
    public TextSink Append(string s) => Append(s.AsSpan());
    /// <summary>Text as UTF-8 bytes (a raw spelling from the source).</summary>
    public abstract TextSink AppendUtf8(ReadOnlySpan<byte> utf8);
}

internal sealed class StringSink(string start) : TextSink
{
    private readonly StringBuilder _sb = new(start);
    public override TextSink Append(char c) { _sb.Append(c); return this; }
    public override TextSink Append(ReadOnlySpan<char> s) { _sb.Append(s); return this; }
    public override TextSink AppendUtf8(ReadOnlySpan<byte> utf8)
    {
        _sb.Append(Encoding.UTF8.GetString(utf8));
        return this;
    }
    public override string ToString() => _sb.ToString();
}

/// <summary>
/// Encodes straight into one byte buffer sized from the source document, so that writing a 1 MiB
/// domain costs about 1 MiB rather than a StringBuilder, a string and a byte array (several MiB in a
/// short-lived process whose GC never runs: all of it would be peak RSS).
/// </summary>
internal sealed class Utf8Sink(Encoding encoding, int capacity) : TextSink
{
    private readonly Encoder _encoder = encoding.GetEncoder();
    private readonly char[] _chars = new char[8192];
    private int _pending;
    private byte[] _bytes = new byte[Math.Max(capacity, 256)];
    private int _length;

    public override TextSink AppendUtf8(ReadOnlySpan<byte> utf8) { AppendBytes(utf8); return this; }

    public void AppendBytes(ReadOnlySpan<byte> bytes)
    {
        Flush(final: false);
        Reserve(bytes.Length);
        bytes.CopyTo(_bytes.AsSpan(_length));
        _length += bytes.Length;
    }

    public override TextSink Append(char c)
    {
        if (_pending == _chars.Length) Flush(final: false);
        _chars[_pending++] = c;
        return this;
    }

    public override TextSink Append(ReadOnlySpan<char> s)
    {
        while (s.Length > 0)
        {
            if (_pending == _chars.Length) Flush(final: false);
            var n = Math.Min(s.Length, _chars.Length - _pending);
            s[..n].CopyTo(_chars.AsSpan(_pending));
            _pending += n;
            s = s[n..];
        }
        return this;
    }

    /// <summary>The encoded bytes, without a copy (the sink is done after this).</summary>
    public ReadOnlyMemory<byte> Complete()
    {
        Flush(final: true);
        return _bytes.AsMemory(0, _length);
    }

    private void Flush(bool final)
    {
        if (_pending == 0 && !final) return;
        Reserve(_encoder.GetByteCount(_chars.AsSpan(0, _pending), final));
        _length += _encoder.GetBytes(_chars.AsSpan(0, _pending), _bytes.AsSpan(_length), final);
        _pending = 0;
    }

    private void Reserve(int more)
    {
        if (_length + more <= _bytes.Length) return;
        Array.Resize(ref _bytes, Math.Max(_length + more, _bytes.Length + _bytes.Length / 4));
    }
}
