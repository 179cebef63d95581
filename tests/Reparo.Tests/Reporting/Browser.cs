using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Reparo.Reporting;

namespace Reparo.Tests.Reporting;

/// <summary>
/// Renders an HTML report in headless Chromium (Debian's <c>chromium</c>, which <c>./test</c> installs) and reports what a
/// reader would meet: console messages (errors, blocked loads), images that failed to decode, and how much text shows.
/// </summary>
internal static partial class Browser
{
    /// <summary>What the page did in the browser.</summary>
    /// <param name="Console">Console messages the page logged, content-security-policy violations included.</param>
    /// <param name="Images">Images on the page.</param>
    /// <param name="BrokenImages">Images that did not load or decode.</param>
    /// <param name="TextLength">Characters of visible text.</param>
    /// <param name="Dom">The DOM after the load event.</param>
    public sealed record Page(IReadOnlyList<string> Console, int Images, int BrokenImages, int TextLength, string Dom);

    // Run after the load event; writes its findings where --dump-dom shows them.
    private const string CheckScript = "addEventListener('load', () => { const b = document.body; b.dataset.images = document.images.length; "
        + "b.dataset.brokenImages = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length; b.dataset.textLength = b.innerText.trim().length; });";

    /// <summary>Loads <paramref name="htmlPath"/> (a copy with the check script added) in headless Chromium.</summary>
    public static Page Load(string htmlPath)
    {
        string chromium = Find() ?? throw new Xunit.Sdk.XunitException(
            "chromium is not installed: the report tests render HTML in headless Chromium; install Debian's package (apt-get install chromium), as ./test does");
        string html = File.ReadAllText(htmlPath);
        // The report's policy forbids scripts; the check script alone is let in, by its hash.
        string hash = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(CheckScript)));
        string policy = HtmlRenderer.ContentSecurityPolicy;
        Assert.Contains(policy, html);
        Assert.Contains("</body>", html);
        html = html.Replace(policy, $"{policy}; script-src 'sha256-{hash}'", StringComparison.Ordinal)
            .Replace("</body>", $"<script>{CheckScript}</script>\n</body>", StringComparison.Ordinal);
        using var dir = TestSupport.TempFolder();
        string page = dir.File("page.html");
        File.WriteAllText(page, html);
        var start = new ProcessStartInfo(chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--enable-logging=stderr", "--v=0",
            $"--user-data-dir={dir.File("profile")}", "--dump-dom", new Uri(page).AbsoluteUri })
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"chromium did not finish loading {htmlPath} within 90 s");
        }
        string dom = stdout.Result;
        string[] console = [.. stderr.Result.Split('\n').Where(line => line.Contains(":CONSOLE", StringComparison.Ordinal)).Select(line => line.Trim())];
        Match body = BodyData().Match(dom);
        if (!body.Success) throw new Xunit.Sdk.XunitException($"the check script did not run in {htmlPath} (exit code {process.ExitCode}): {string.Join(" | ", console)}{stderr.Result[..Math.Min(2000, stderr.Result.Length)]}");
        return new Page(console, int.Parse(body.Groups["images"].Value), int.Parse(body.Groups["broken"].Value), int.Parse(body.Groups["text"].Value), dom);
    }

    /// <summary>Fails unless the page loads without console messages or broken images and shows some text.</summary>
    public static Page AssertRendersCleanly(string htmlPath, int minimumImages = 0)
    {
        Page page = Load(htmlPath);
        Assert.True(page.Console.Count == 0, "console messages: " + string.Join(" | ", page.Console));
        Assert.True(page.BrokenImages == 0, $"{page.BrokenImages} of {page.Images} images are broken");
        Assert.True(page.TextLength > 100, $"the page shows only {page.TextLength} characters of text");
        Assert.True(page.Images >= minimumImages, $"expected at least {minimumImages} images, found {page.Images}");
        return page;
    }

    private static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, "chromium")).FirstOrDefault(File.Exists);

    [GeneratedRegex("<body[^>]*data-images=\"(?<images>\\d+)\"[^>]*data-broken-images=\"(?<broken>\\d+)\"[^>]*data-text-length=\"(?<text>\\d+)\"")]
    private static partial Regex BodyData();
}
