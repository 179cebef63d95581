namespace Reparo.Tests.Cli;

public sealed class RemediateCliTests
{
    [Theory]
    [InlineData("--level", "sample", "--classes", "1,2,3")]
    [InlineData("--level", "segment", "--classes", "0,1")]
    [InlineData("--level", "segment", "--m", "5,x")]
    [InlineData("--level", "segment", "--m", "0")]
    [InlineData("--level", "sample", "--epochs", "0")]
    public void BadOptionsAreOneLineInputErrors(params string[] args)
    {
        (int code, _, string err) = CliRunner.Run(["remediate", .. args]);
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void AnUnknownLevelIsRejected()
    {
        (int code, _, _) = CliRunner.Run("remediate", "--level", "token");
        Assert.NotEqual(0, code);
    }
}
