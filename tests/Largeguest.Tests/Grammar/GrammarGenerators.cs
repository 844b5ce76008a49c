using FsCheck;
using FsCheck.Fluent;
using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

/// <summary>FsCheck generators of valid grammar values, and of strings that look like property values.</summary>
public static class GrammarGenerators
{
    /// <summary>Mostly small ids (the common case), sometimes up to libvirt's limit.</summary>
    private static Gen<int> Id => Gen.Frequency((9, Gen.Choose(0, 300)), (1, Gen.Choose(0, CpuSet.MaxId)));

    private static Gen<(int First, int Last)> IdRange =>
        from first in Id
        from length in Gen.Frequency((3, Gen.Constant(0)), (2, Gen.Choose(1, 40)))
        select (first, Math.Min(first + length, CpuSet.MaxId));

    public static Gen<CpuSet> CpuSetGen =>
        from ranges in Gen.NonEmptyListOf(IdRange).Select(l => l.Take(8).ToList())
        select CpuSet.Of(ranges.SelectMany(r => Enumerable.Range(r.First, r.Last - r.First + 1)));

    /// <summary>Disjoint vCPU ranges in random order.</summary>
    private static Gen<List<(int First, int Last)>> DisjointRanges(int maxCount) =>
        from steps in Gen.ListOf(Gen.Zip(Gen.Choose(0, 20), Gen.Frequency((2, Gen.Constant(0)), (1, Gen.Choose(1,
            30)))))
        let take = steps.Take(maxCount).ToList()
        from order in Gen.Shuffle(Enumerable.Range(0, take.Count))
        select Accumulate(take, order);

    private static List<(int, int)> Accumulate(List<(int Gap, int Length)> steps, int[] order)
    {
        var ranges = new List<(int, int)>();
        var next = 0;
        foreach (var (gap, length) in steps)
        {
            var first = next + gap;
            ranges.Add((first, first + length));
            next = first + length + 1;
        }
        return order.Select(i => ranges[i]).ToList();
    }

    /// <summary>Distinct I/O thread ids (from 1, sometimes up to the 6-digit limit) in random order, with their
    /// cpusets.</summary>
    private static Gen<List<IoThreadPin>> IoThreadPinsGen =>
        from ids in Gen.Frequency((3, Gen.Constant(new List<int>())),
            (2, Gen.ListOf(Gen.Frequency((9, Gen.Choose(1, 16)), (1, Gen.Choose(1, 999999))))
                .Select(l => l.Distinct().Take(5).ToList())))
        from sets in Gen.ListOf(CpuSetGen, ids.Count)
        select ids.Zip(sets, (id, s) => new IoThreadPin(id, s)).ToList();

    public static Gen<CpuTune> CpuTuneGen =>
        from ranges in DisjointRanges(6)
        from sets in Gen.ListOf(CpuSetGen, ranges.Count)
        from emulator in Gen.Frequency((1, Gen.Constant<CpuSet?>(null)), (1, CpuSetGen.Select(s => (CpuSet?)s)))
        from ioThreads in IoThreadPinsGen
        where ranges.Count > 0 || emulator is not null || ioThreads.Count > 0
        select new CpuTune(ranges.Zip(sets, (r, s) => new VcpuPin(r.First, r.Last, s)).ToList(), emulator, ioThreads);

    public static Gen<MemorySize> MemorySizeGen => Gen.OneOf(
        from n in Gen.Choose(1, 1 << 20)
        from shift in Gen.Elements(0, 10, 20, 30)
        select new MemorySize((long)n << shift),
        from n in Gen.Choose(1, int.MaxValue)
        from m in Gen.Choose(0, 1 << 19)
        select new MemorySize(Math.Min(MemorySize.MaxKiB, (long)n * (m + 1))));

    public static Gen<NumaTune> NumaTuneGen =>
        from mode in Gen.Elements(Enum.GetValues<NumaMode>())
        from nodes in CpuSetGen
        select new NumaTune(mode, nodes);

    public static Gen<GuestNuma> GuestNumaGen =>
        from count in Gen.Choose(1, 6)
        from ranges in DisjointRanges(count * 2).Where(r => r.Count >= count)
        from memories in Gen.ListOf(MemorySizeGen, count)
        from nodes in Gen.ListOf(Gen.Frequency((1, Gen.Constant<(int, int)?>(null)), (1, IdRange
            .Select(r => ((int, int)?)r))), count)
        select new GuestNuma(Enumerable.Range(0, count).Select(i =>
        {
            // Cell i gets ranges i, i+count, ... so that some cells have non-contiguous vCPUs.
            var vcpus = CpuSet.Of(ranges
                .Where((_, j) => j % count == i).SelectMany(r => Enumerable.Range(r.First, r.Last - r.First + 1)));
            return new GuestCell(vcpus, memories[i], nodes[i] is var (f, l) ? CpuSet.Range(f, l) : null);
        }).ToList());

    /// <summary>Strings made of the grammars' own vocabulary (and some strangers), to reach deep into the
    /// parsers.</summary>
    public static Gen<string> PropertyLikeString
    {
        get
        {
            string[] pieces =
            [
                "0", "1", "7", "15", "16383", "16384", "99999999999", "-", "^", ",", "#", ":", " ", "\t", "emulator",
                    "EMULATOR", "iothread", "IOThread", "_",
                "strict", "preferred", "interleave", "restrictive", "K", "M", "G", "T", "KiB", "GiB", "iB", "B", "k",
                    "0-3", "3-0",
                "^2", "10G", "0x10", "１", "٣", "\u00A0", "\0", "\n", ";", "=", "'", "\"", "<", "&", "ﬀ", "🙂",
                "null",
                    "", "--", "##",
            ];
            var piece = Gen.Frequency((12, Gen.Elements(pieces)), (1, ArbMap.Default.GeneratorFor<char>()
                .Select(c => c.ToString())));
            var soup = Gen.ListOf(piece).Select(l => string.Concat(l.Take(40)));
            var valid = Gen.OneOf(
                CpuSetGen.Select(v => v.ToString()), CpuTuneGen.Select(v => v.ToString()), NumaTuneGen
                    .Select(v => v.ToString()),
                GuestNumaGen.Select(v => v.ToString()), MemorySizeGen.Select(v => v.ToString()),
                NumaTuneGen.Select(v => v.ToString().Replace('#', ':')));
            var mutated =
                from text in valid
                from edits in Gen.ListOf(Gen.Zip(Gen.Choose(0, 3), Gen.Zip(Gen.Choose(0, 1000), piece)))
                select Mutate(text, edits.Take(3));
            return Gen.Frequency((2, soup), (1, valid), (3, mutated));
        }
    }

    /// <summary>Inserts, deletes or replaces at pseudo-random positions: near-valid text reaches the parsers' inner
    /// checks.</summary>
    private static string Mutate(string text, IEnumerable<(int Kind, (int At, string Piece) Where)> edits)
    {
        foreach (var (kind, (at, piece)) in edits)
        {
            var i = text.Length == 0 ? 0 : at % (text.Length + 1);
            text = kind switch
            {
                0 => text.Insert(i, piece),
                1 when i < text.Length => text.Remove(i, 1),
                2 when i < text.Length => text.Remove(i, 1).Insert(i, piece),
                _ => text.Insert(i, " "),
            };
        }
        return text;
    }

    public static Arbitrary<CpuSet> CpuSets() => CpuSetGen.ToArbitrary();
    public static Arbitrary<CpuTune> CpuTunes() => CpuTuneGen.ToArbitrary();
    public static Arbitrary<MemorySize> MemorySizes() => MemorySizeGen.ToArbitrary();
    public static Arbitrary<NumaTune> NumaTunes() => NumaTuneGen.ToArbitrary();
    public static Arbitrary<GuestNuma> GuestNumas() => GuestNumaGen.ToArbitrary();
    public static Arbitrary<string> Strings() => Gen.OneOf(PropertyLikeString, ArbMap.Default.GeneratorFor<string>()
        .Where(s => s is not null)).ToArbitrary();
}
