using Reparo.Experiments;

namespace Reparo.Tests.Experiments;

public sealed class ParserFuzzerTests
{
    [Fact]
    public void AShortRunOfEveryParserFindsNoCrashHangOrMemoryBlowUp()
    {
        TestSupport.Init();
        var options = new FuzzOptions { Cases = 200, Seed = 7 };
        foreach (string parser in ParserFuzzer.Parsers)
        {
            FuzzParserResult result = ParserFuzzer.Run(parser, options);
            Assert.True(result.Clean, $"{parser}: {string.Join(" | ", result.Failures.Select(f => $"{f.Outcome} case {f.Case} of {f.SeedFile} ({f.Mutation}): {f.Detail}"))}");
            Assert.Equal(200, result.Accepted + result.Rejected);
            // Every parser must both accept some mutated files and reject others, or the mutations miss its interior.
            Assert.True(result.Rejected > 0, parser);
        }
    }

    [Fact]
    public void TheSameSeedGivesTheSameMutations()
    {
        byte[] seed = "{\"inputs\": [[0.5, 1]], \"labels\": [3]}\n"u8.ToArray();
        var a = new FuzzMutator(11);
        var b = new FuzzMutator(11);
        var c = new FuzzMutator(12);
        var first = Enumerable.Range(0, 50).Select(_ => a.Mutate(seed, text: true)).ToArray();
        var second = Enumerable.Range(0, 50).Select(_ => b.Mutate(seed, text: true)).ToArray();
        var other = Enumerable.Range(0, 50).Select(_ => c.Mutate(seed, text: true)).ToArray();
        Assert.Equal(first.Select(m => m.Description), second.Select(m => m.Description));
        Assert.All(first.Zip(second), p => Assert.Equal(p.First.Bytes, p.Second.Bytes));
        Assert.NotEqual(first.Select(m => m.Description), other.Select(m => m.Description));
    }

    [Fact]
    public void TheMutatorUsesEveryKindAndTextKindsOnlyOnText()
    {
        byte[] seed = "{\"a\": [1, 2.5, -3e2], \"b\": {\"c\": 4}}\n1,2\t3\n"u8.ToArray();
        var mutator = new FuzzMutator(3);
        FuzzMutationKind[] onText = Enumerable.Range(0, 500).SelectMany(_ => mutator.Mutate(seed, text: true).Kinds).Distinct().ToArray();
        FuzzMutationKind[] onBinary = Enumerable.Range(0, 500).SelectMany(_ => mutator.Mutate(seed, text: false).Kinds).Distinct().ToArray();
        Assert.Equal(Enum.GetValues<FuzzMutationKind>().Order(), onText.Order());
        Assert.DoesNotContain(FuzzMutationKind.NumberReplace, onBinary);
        Assert.Equal(7, onBinary.Length);
    }
}
