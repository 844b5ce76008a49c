using System.Net;
using Largeguest.Config;
using Largeguest.Ksm.Tuning;

namespace Largeguest.Tests.Ksm.Tuning;

public class TuneConfigTests
{
    private const string Json = "/etc/vdsm-hook-largeguest/largeguest.json";

    private static TunerSettings Resolve(KsmTuneOptions? json = null, string conf = "", TuneFlags? flags = null,
        List<string>? notes = null) =>
        TuneConfig.Resolve(json ?? new KsmTuneOptions(), Json, KsmtunedConf.Parse(conf, "/etc/ksmtuned.conf",
            _ => { }), flags ?? TuneFlags.None, n => notes?.Add(n));

    [Fact]
    public void Out_of_the_box_it_behaves_as_ksmtuned_with_its_defaults()
    {
        var s = Resolve();
        s.Mode.Should().Be(TuningMode.Customized);
        s.Parameters.Should().Be(TuningParameters.KsmtunedDefaults);
        s.ThresCoef.Should().Be(20);
        s.ThresConstKiB.Should().Be(2048);
        s.Interval.Should().Be(TimeSpan.FromSeconds(60));
        s.Listen.Should().Be(new IPEndPoint(IPAddress.Loopback, 9926));
        s.TextfilePath.Should().BeNull();
        s.CpuSample.Should().Be(TimeSpan.FromSeconds(1));
        TunerSettings.Defaults.Should().BeEquivalentTo(s);
    }

    [Theory]
    [InlineData("standard", 0, 0, 100, 100, 20)]
    [InlineData("high", 200, 50, 100, 10000, 20)]
    [InlineData("HIGH", 200, 50, 100, 10000, 20)]
    public void Standard_and_high_use_the_seed_parameter_sets(string mode, long boost, long decay, long min, long max,
        long sleep)
    {
        var notes = new List<string>();
        var s = Resolve(conf: "KSM_NPAGES_BOOST=999\nKSM_THRES_COEF=30", flags: new(Mode: mode), notes: notes);
        s.Parameters.Should().Be(new TuningParameters(boost, decay, min, max, sleep));
        s.ThresCoef.Should().Be(30, "thresCoef is not part of a parameter set");
        notes.Should().ContainSingle().Which
            .Should().Be($"/etc/ksmtuned.conf: KSM_NPAGES_BOOST: ignored, mode {mode.ToLowerInvariant()} has its own " +
            $"value");
    }

    [Fact]
    public void Layers_flags_over_json_over_ksmtuned_conf()
    {
        var s = Resolve(
            json: new KsmTuneOptions { Boost = "400", MinPages = "80", ThresCoef = "25", IntervalSeconds = "10" },
            conf: "KSM_NPAGES_BOOST=350\nKSM_NPAGES_MAX=3000\nKSM_NPAGES_MIN=70\nKSM_THRES_COEF=22\n" +
                "KSM_THRES_CONST=1000",
            flags: new(Boost: "450", ThresCoef: "50"));
        s.Parameters.Should().Be(new TuningParameters(450, 50, 80, 3000, 10));
        s.ThresCoef.Should().Be(50);
        s.ThresConstKiB.Should().Be(1000);
        s.Interval.Should().Be(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("--mode", "fast", "--mode: bad value 'fast' (expected: standard, high or customized)")]
    [InlineData("--thres-coef", "101", "--thres-coef: bad value '101' (expected: a whole number from 0 to 100)")]
    [InlineData("--thres-coef", "-1", "--thres-coef: bad value '-1' (expected: a whole number from 0 to 100)")]
    [InlineData("--boost", "x", "--boost: bad value 'x' (expected: a whole number from 0 to 4294967295)")]
    [InlineData("--min-pages", "0", "--min-pages: bad value '0' (expected: a whole number from 1 to 4294967295)")]
    [InlineData("--interval", "0", "--interval: bad value '0' (expected: a whole number from 1 to 86400)")]
    [InlineData("--listen", "localhost:9926", "--listen: bad value 'localhost:9926' (expected: ADDRESS:PORT such as " +
        "127.0.0.1:9926 or [::1]:9926, or empty for no endpoint)")]
    [InlineData("--listen", "127.0.0.1", "--listen: bad value '127.0.0.1' (expected: ADDRESS:PORT such as " +
        "127.0.0.1:9926 or [::1]:9926, or empty for no endpoint)")]
    [InlineData("--textfile", "ksm.txt", "--textfile: bad value 'ksm.txt' (expected: an absolute path ending in " +
        ".prom, as node_exporter's textfile collector reads)")]
    public void Bad_flags_are_named(string flag, string value, string message)
    {
        var flags = flag switch
        {
            "--mode" => new TuneFlags(Mode: value),
            "--thres-coef" => new TuneFlags(ThresCoef: value),
            "--boost" => new TuneFlags(Boost: value),
            "--min-pages" => new TuneFlags(MinPages: value),
            "--interval" => new TuneFlags(IntervalSeconds: value),
            "--listen" => new TuneFlags(Listen: value),
            _ => new TuneFlags(Textfile: value),
        };
        FluentActions.Invoking(() => Resolve(flags: flags)).Should().Throw<ConfigException>().Which.Message
            .Should().Be(message);
    }

    [Fact]
    public void Bad_json_values_name_the_file_and_key()
    {
        FluentActions.Invoking(() => Resolve(json: new KsmTuneOptions { MaxPages = "lots" }))
            .Should().Throw<ConfigException>()
            .Which.Message.Should().Be($"{Json}: KsmTune:MaxPages: bad value 'lots' (expected: a whole number from 1 " +
                $"to 4294967295)");
        FluentActions.Invoking(() => Resolve(json: new KsmTuneOptions { Mode = "turbo" }))
            .Should().Throw<ConfigException>()
            .Which.Message.Should().Be($"{Json}: KsmTune:Mode: bad value 'turbo' (expected: standard, high or " +
                $"customized)");
        FluentActions.Invoking(() => Resolve(json: new KsmTuneOptions { CpuSampleMilliseconds = 5 }))
            .Should().Throw<ConfigException>()
            .Which.Message.Should().Be($"{Json}: KsmTune:CpuSampleMilliseconds: bad value '5' (expected: a whole " +
                $"number from 10 to 60000)");
    }

    [Fact]
    public void Custom_values_beside_a_fixed_mode_in_the_same_layer_are_an_error()
    {
        FluentActions.Invoking(() => Resolve(flags: new(Mode: "high", Boost: "300"))).Should().Throw<ConfigException>()
            .Which.Message.Should().Be("--boost: only used with --mode customized (the mode given is high)");
        FluentActions.Invoking(() => Resolve(json: new KsmTuneOptions { Mode = "standard", Decay = "5" }))
            .Should().Throw<ConfigException>()
            .Which.Message.Should().Be($"{Json}: KsmTune:Decay: set, but KsmTune:Mode is standard (expected: empty " +
                $"unless Mode is customized)");
        var notes = new List<string>();
        Resolve(json: new KsmTuneOptions { Decay = "5" }, flags: new(Mode: "high"), notes: notes).Parameters
            .Should().Be(TuningParameters.High);
        notes.Should().Equal($"{Json}: KsmTune:Decay: ignored, mode high has its own value");
    }

    [Fact]
    public void Min_above_max_across_layers_is_an_error_naming_both()
    {
        FluentActions.Invoking(() => Resolve(conf: "KSM_NPAGES_MAX=100", flags: new(MinPages: "200")))
            .Should().Throw<ConfigException>()
            .Which.Message.Should().Be("customized parameters (from flags, /etc/ksmtuned.conf): minPages: 200 is " +
                "above maxPages 100 (expected: minPages <= maxPages)");
    }

    [Theory]
    [InlineData("127.0.0.1:9926", "127.0.0.1", 9926)]
    [InlineData("[::1]:9100", "::1", 9100)]
    [InlineData("0.0.0.0:80", "0.0.0.0", 80)]
    public void Listen_takes_address_and_port(string text, string address, int port)
    {
        var s = Resolve(flags: new(Listen: text));
        s.Listen.Should().Be(new IPEndPoint(IPAddress.Parse(address), port));
    }

    [Fact]
    public void An_empty_listen_disables_the_endpoint() => Resolve(json: new KsmTuneOptions { Listen = "" }).Listen
        .Should().BeNull();
}
