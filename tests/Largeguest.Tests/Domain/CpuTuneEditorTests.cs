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

    [Fact]
    public void Iothread_pins_replace_that_threads_old_pin_and_new_ones_follow_the_emulator_pin()
    {
        const string xml = "<domain><vcpu>2</vcpu><iothreads>3</iothreads><cputune><vcpupin vcpu='0' cpuset='1'/><emulatorpin cpuset='0'/>" +
            "<shares>10</shares><iothreadpin iothread='2' cpuset='9'/><iothreadpin iothread='2' cpuset='8'/></cputune></domain>";
        Apply(xml, "iothread3#5,iothread2#4").Should().Be(
            "<domain><vcpu>2</vcpu><iothreads>3</iothreads><cputune><vcpupin vcpu='0' cpuset='1'/><emulatorpin cpuset='0'/>" +
            "<shares>10</shares><iothreadpin iothread='2' cpuset='4'/><iothreadpin iothread='3' cpuset='5'/></cputune></domain>");
        Apply("<domain><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/><shares>10</shares></cputune></domain>", "1#2,emulator#3,iothread1#4").Should().Be(
            "<domain><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='2'/><emulatorpin cpuset='3'/><iothreadpin iothread='1' cpuset='4'/><shares>10</shares></cputune></domain>");
    }
}
