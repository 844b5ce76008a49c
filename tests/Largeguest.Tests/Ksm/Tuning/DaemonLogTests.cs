using Largeguest.Ksm.Tuning;

namespace Largeguest.Tests.Ksm.Tuning;

/// <summary>The daemon's journald priorities (sd-daemon(3) prefixes): what `journalctl -p` filters on.</summary>
public class DaemonLogTests
{
    [Fact]
    public void Each_level_carries_its_syslog_priority()
    {
        var lines = new List<string>();
        var log = new DaemonLog(lines.Add);
        log.Error("ksm tune: cycle failed: x");
        log.Warning("ksm tune: textfile: y");
        log.Info("ksm tune: daemon stopping");
        lines.Should().Equal("<3>ksm tune: cycle failed: x", "<4>ksm tune: textfile: y",
            "<6>ksm tune: daemon stopping");
    }
}
