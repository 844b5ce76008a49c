using Largeguest.Config;
using Largeguest.Ksm.Tuning;

namespace Largeguest.Tests.Ksm.Tuning;

public class KsmtunedConfTests
{
    /// <summary>The default /etc/ksmtuned.conf exactly as the RHEL KSM guide prints it: every key commented
    /// out.</summary>
    private const string SeedDefaultFile = """
        # Configuration file for ksmtuned.

        # How long ksmtuned should sleep between tuning adjustments
        # KSM_MONITOR_INTERVAL=60

        # Millisecond sleep between ksm scans for 16Gb server.
        # Smaller servers sleep more, bigger sleep less.
        # KSM_SLEEP_MSEC=10

        # KSM_NPAGES_BOOST=300
        # KSM_NPAGES_DECAY=-50
        # KSM_NPAGES_MIN=64
        # KSM_NPAGES_MAX=1250

        # KSM_THRES_COEF=20
        # KSM_THRES_CONST=2048

        # uncomment the following to enable ksmtuned debug information
        # LOGFILE=/var/log/ksmtuned
        # DEBUG=1
        """;

    private static KsmtunedConf Parse(string text, List<string>? warnings = null) =>
        KsmtunedConf.Parse(text, "/etc/ksmtuned.conf", w => warnings?.Add(w));

    [Fact]
    public void The_seed_default_file_gives_ksmtuned_defaults()
    {
        var conf = Parse(SeedDefaultFile);
        conf.SetKeys.Should().BeEmpty();
        conf.Parameters.Should().Be(TuningParameters.KsmtunedDefaults);
        conf.Parameters.Should().Be(new TuningParameters(300, 50, 64, 1250, 10));
        conf.Interval.Should().Be(TimeSpan.FromSeconds(60));
        conf.Coefficient.Should().Be(20);
        conf.ThresholdConstKiB.Should().Be(2048);
        conf.Text(KsmtunedConf.LogFile).Should().Be("/var/log/ksmtuned");
        conf.DebugEnabled.Should().BeFalse();
    }

    [Fact]
    public void Every_seed_key_is_known_with_its_default()
    {
        KsmtunedConf.Keys.Select(k => (k.Name, k.Default)).Should().Equal(
            ("KSM_MONITOR_INTERVAL", "60"), ("KSM_SLEEP_MSEC", "10"), ("KSM_NPAGES_BOOST", "300"), ("KSM_NPAGES_DECAY",
                "-50"),
            ("KSM_NPAGES_MIN", "64"), ("KSM_NPAGES_MAX", "1250"), ("KSM_THRES_COEF", "20"), ("KSM_THRES_CONST", "2048"),
            ("LOGFILE", "/var/log/ksmtuned"), ("DEBUG", ""));
    }

    [Fact]
    public void Uncommented_keys_override_in_shell_syntax()
    {
        var conf = Parse("""
            KSM_MONITOR_INTERVAL=30
            export KSM_SLEEP_MSEC="20"   # quoted, with a comment
            KSM_NPAGES_BOOST='500'
            KSM_NPAGES_DECAY=-100
            KSM_NPAGES_MIN=100
              KSM_NPAGES_MAX=5000
            KSM_THRES_COEF=35
            KSM_THRES_CONST=4096
            DEBUG=1
            LOGFILE=/tmp/ksmtuned.log
            """);
        conf.Parameters.Should().Be(new TuningParameters(500, 100, 100, 5000, 20));
        conf.Interval.Should().Be(TimeSpan.FromSeconds(30));
        conf.Coefficient.Should().Be(35);
        conf.ThresholdConstKiB.Should().Be(4096);
        conf.DebugEnabled.Should().BeTrue();
        conf.Text(KsmtunedConf.LogFile).Should().Be("/tmp/ksmtuned.log");
    }

    [Fact]
    public void An_empty_value_means_the_default_and_a_later_line_wins()
    {
        var conf = Parse("KSM_NPAGES_BOOST=700\nKSM_NPAGES_BOOST=\nKSM_THRES_COEF=10\nKSM_THRES_COEF=15\r\n");
        conf.Parameters.Boost.Should().Be(300);
        conf.Coefficient.Should().Be(15);
    }

    [Fact]
    public void Unknown_keys_are_warned_about_not_fatal()
    {
        var warnings = new List<string>();
        var conf = Parse("KSM_NPAGES_BOSST=700\n", warnings);
        conf.Parameters.Boost.Should().Be(300);
        warnings.Should().ContainSingle().Which
            .Should().Be("/etc/ksmtuned.conf:1: KSM_NPAGES_BOSST: not a ksmtuned key, ignored");
    }

    [Theory]
    [InlineData("KSM_NPAGES_BOOST=abc", "/etc/ksmtuned.conf:1: KSM_NPAGES_BOOST: bad value 'abc' (expected: a whole " +
        "number from 0 to 4294967295)")]
    [InlineData("# c\nKSM_NPAGES_BOOST=-5", "/etc/ksmtuned.conf:2: KSM_NPAGES_BOOST: bad value '-5' (expected: a " +
        "whole number from 0 to 4294967295)")]
    [InlineData("KSM_NPAGES_DECAY=50", "/etc/ksmtuned.conf:1: KSM_NPAGES_DECAY: bad value '50' (expected: zero or a " +
        "negative whole number down to -4294967295: ksmtuned adds it to pages_to_scan)")]
    [InlineData("KSM_THRES_COEF=120", "/etc/ksmtuned.conf:1: KSM_THRES_COEF: bad value '120' (expected: a percentage " +
        "from 0 to 100)")]
    [InlineData("KSM_MONITOR_INTERVAL=0", "/etc/ksmtuned.conf:1: KSM_MONITOR_INTERVAL: bad value '0' (expected: a " +
        "whole number from 1 to 86400)")]
    [InlineData("KSM_NPAGES_MIN=0", "/etc/ksmtuned.conf:1: KSM_NPAGES_MIN: bad value '0' (expected: a whole number " +
        "from 1 to 4294967295)")]
    [InlineData("KSM_SLEEP_MSEC=1.5", "/etc/ksmtuned.conf:1: KSM_SLEEP_MSEC: bad value '1.5' (expected: a whole " +
        "number from 0 to 86400000)")]
    [InlineData("KSM_NPAGES_MIN=2000", "/etc/ksmtuned.conf: KSM_NPAGES_MIN: 2000 is above KSM_NPAGES_MAX 1250 " +
        "(expected: KSM_NPAGES_MIN <= KSM_NPAGES_MAX)")]
    [InlineData("KSM_NPAGES_MAX = 10", "/etc/ksmtuned.conf:1: 'KSM_NPAGES_MAX = 10' is not a KEY=value assignment " +
        "(expected: KEY=value, as ksmtuned sources the file as shell)")]
    [InlineData("ksmtuned --now", "/etc/ksmtuned.conf:1: 'ksmtuned --now' is not a KEY=value assignment (expected: " +
        "KEY=value, as ksmtuned sources the file as shell)")]
    [InlineData("KSM_NPAGES_MAX=10 20", "/etc/ksmtuned.conf:1: KSM_NPAGES_MAX: unquoted space in '10 20' (expected: " +
        "one word, or quote the value)")]
    [InlineData("KSM_NPAGES_MAX=\"10", "/etc/ksmtuned.conf:1: KSM_NPAGES_MAX: unterminated \" quote (expected: a " +
        "closing \")")]
    [InlineData("KSM_NPAGES_MAX=$((1+2))", "/etc/ksmtuned.conf:1: KSM_NPAGES_MAX: shell syntax '$' in '$((1+2))' is " +
        "not supported (expected: a literal value)")]
    [InlineData("KSM_NPAGES_MAX=\"$X\"", "/etc/ksmtuned.conf:1: KSM_NPAGES_MAX: shell expansion in '\"$X\"' is not " +
        "supported (expected: a literal value)")]
    public void Bad_values_name_the_key_and_line(string text, string message) =>
        FluentActions.Invoking(() => Parse(text)).Should().Throw<ConfigException>().Which.Message.Should().Be(message);

    [Fact]
    public void A_missing_file_is_the_defaults_and_a_real_file_is_read_with_its_path_in_errors()
    {
        KsmtunedConf.Load("/nonexistent/ksmtuned.conf", _ => { }).Should().BeSameAs(KsmtunedConf.Defaults);
        var dir = Directory.CreateTempSubdirectory("ksmtuned-conf");
        try
        {
            var path = Path.Combine(dir.FullName, "ksmtuned.conf");
            File.WriteAllText(path, "KSM_NPAGES_MAX=2000\n");
            KsmtunedConf.Load(path, _ => { }).Parameters.MaxPages.Should().Be(2000);
            File.WriteAllText(path, "KSM_NPAGES_MAX=x\n");
            FluentActions.Invoking(() => KsmtunedConf.Load(path, _ => { })).Should().Throw<ConfigException>()
                .Which.Message.Should().StartWith($"{path}:1: KSM_NPAGES_MAX: bad value 'x'");
        }
        finally { dir.Delete(recursive: true); }
    }
}
