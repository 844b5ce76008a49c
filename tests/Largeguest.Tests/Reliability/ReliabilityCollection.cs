namespace Largeguest.Tests.Reliability;

/// <summary>The reliability suite runs its heavy process storms one at a time (xunit runs collections in
/// parallel).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReliabilityCollection
{
    public const string Name = "Reliability";
}
