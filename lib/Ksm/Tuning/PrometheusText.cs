using System.Globalization;
using System.Text;

namespace Largeguest.Ksm.Tuning;

public enum MetricType { Gauge, Counter }

/// <summary>
/// The Prometheus text exposition format, version 0.0.4 (what every Prometheus and node_exporter's textfile
/// collector read): per family one <c># HELP</c>, one <c># TYPE</c>, then its samples. Names and label names are
/// checked; help text and label values are escaped. Written by hand rather than with prometheus-net: see
/// docs/ksmtune.md ("Metrics") for why.
/// </summary>
public sealed class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _out = new();
    private readonly HashSet<string> _families = new(StringComparer.Ordinal);
    private string? _current;

    /// <summary>Starts a metric family; its samples follow with <see cref="Sample"/>.</summary>
    public PrometheusText Family(string name, MetricType type, string help)
    {
        CheckName(name, metric: true);
        if (!_families.Add(name)) throw new ArgumentException($"metric family {name} written twice", nameof(name));
        _current = name;
        _out.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(help)).Append('\n');
        _out.Append("# TYPE ").Append(name).Append(' ')
            .Append(type == MetricType.Counter ? "counter" : "gauge").Append('\n');
        return this;
    }

    /// <summary>One sample of the current family; <paramref name="labels"/> as (name, value) pairs.</summary>
    public PrometheusText Sample(double value, params (string Name, string Value)[] labels)
    {
        var family = _current ?? throw new InvalidOperationException("a sample before any family");
        _out.Append(family);
        if (labels.Length > 0)
        {
            _out.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                CheckName(labels[i].Name, metric: false);
                if (i > 0) _out.Append(',');
                _out.Append(labels[i].Name).Append("=\"").Append(EscapeLabel(labels[i].Value)).Append('"');
            }
            _out.Append('}');
        }
        _out.Append(' ').Append(Number(value)).Append('\n');
        return this;
    }

    /// <summary>A family with a single unlabelled sample.</summary>
    public PrometheusText Single(string name, MetricType type, string help, double value) =>
        Family(name, type, help).Sample(value);

    public override string ToString() => _out.ToString();

    public static string Number(double v) =>
        double.IsNaN(v) ? "NaN"
        : double.IsPositiveInfinity(v) ? "+Inf"
        : double.IsNegativeInfinity(v) ? "-Inf"
        : v.ToString("R", CultureInfo.InvariantCulture);

    private static string EscapeHelp(string s) =>
        s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string EscapeLabel(string s) =>
        s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>
    /// [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, [a-zA-Z_][a-zA-Z0-9_]* for labels (no leading "__": reserved).
    /// </summary>
    private static void CheckName(string name, bool metric)
    {
        var ok = name.Length > 0
            && (char.IsAsciiLetter(name[0]) || name[0] == '_' || (metric && name[0] == ':'))
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || (metric && c == ':'))
            && (metric || !name.StartsWith("__", StringComparison.Ordinal));
        if (!ok) throw new ArgumentException(
            $"'{name}' is not a valid Prometheus {(metric ? "metric" : "label")} name", nameof(name));
    }
}
