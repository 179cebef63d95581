using Reparo.Cli;

namespace Reparo.Tests.Cli;

public sealed class MemorySizeTests
{
    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("64K", 65536L)]
    [InlineData("512M", 536870912L)]
    [InlineData("1.5G", 1610612736L)]
    [InlineData("2gb", 2147483648L)]
    [InlineData("1T", 1099511627776L)]
    public void SizesAreBytesOrPowersOf1024(string text, long bytes) => Assert.Equal(bytes, MemorySize.Parse(text, "--max-memory"));

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("-1G")]
    [InlineData("0")]
    [InlineData("NaN")]
    [InlineData("9999999999T")]
    public void AnythingElseIsAnInputError(string text) =>
        Assert.Contains("--max-memory", Assert.Throws<ReparoInputException>(() => MemorySize.Parse(text, "--max-memory")).Message);

    [Fact]
    public void NoTextMeansTheDefaultAndTheDefaultIsHalfTheMachine()
    {
        Assert.Null(MemorySize.Parse(null, "--max-memory"));
        Assert.InRange(MemorySize.HalfOfMachine(), 1L << 28, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
    }
}
