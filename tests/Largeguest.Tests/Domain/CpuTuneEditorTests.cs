using System.Text;
using Largeguest.Domain;
using Largeguest.Domain.Editors;
using Largeguest.Grammar;

namespace Largeguest.Tests.Domain;

/// <summary>The vcpupin merge rules of <see cref="CpuTuneEditor"/> on existing pins, duplicates included.</summary>
public class CpuTuneEditorTests
{
    private static string Apply(string xml, string cputune)
    {
        var doc = DomainDocument.Parse(Encoding.UTF8.GetBytes(xml));
        CpuTuneEditor.Apply(doc, CpuTune.Parse(cputune));
        return doc.ToText();
    }

    [Fact]
    public void A_duplicate_pin_is_dropped_and_new_pins_follow_the_last_one_left()
    {
        const string xml = "<domain><vcpu>8</vcpu><cputune><shares>10</shares><vcpupin vcpu='1' cpuset='9'/><vcpupin vcpu='3' cpuset='7'/><vcpupin vcpu='3' cpuset='8'/></cputune></domain>";
        Apply(xml, "3#0,4-5#1").Should().Be(
            "<domain><vcpu>8</vcpu><cputune><shares>10</shares><vcpupin vcpu='1' cpuset='9'/><vcpupin vcpu='3' cpuset='0'/>" +
            "<vcpupin vcpu='4' cpuset='1'/><vcpupin vcpu='5' cpuset='1'/></cputune></domain>");
    }
}
