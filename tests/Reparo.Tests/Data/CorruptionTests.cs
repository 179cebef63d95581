using Reparo.Data;
using static TorchSharp.torch;

namespace Reparo.Tests.Data;

public class CorruptionTests
{
    private static readonly int[] Ids = [0, 1, 2, 3, 4, 5];

    private static Tensor Images() => TestSupport.RandomImages(Ids.Length, seed: 3).X;

    [Theory]
    [InlineData(Corruption.Fog)]
    [InlineData(Corruption.Brightness)]
    [InlineData(Corruption.Contrast)]
    [InlineData(Corruption.GaussianNoise)]
    [InlineData(Corruption.MotionBlur)]
    [InlineData(Corruption.Rotation)]
    [InlineData(Corruption.Translation)]
    [InlineData(Corruption.Shear)]
    [InlineData(Corruption.Zoom)]
    public void CorruptionsAreDeterministicBoundedAndChangeTheImage(Corruption corruption)
    {
        Tensor x = Images();
        Tensor before = x.clone();
        foreach (int severity in new[] { 1, 5 })
        {
            Tensor a = Corruptions.Apply(x, corruption, severity, seed: 7, Ids);
            Tensor b = Corruptions.Apply(x, corruption, severity, seed: 7, Ids);
            Assert.True(a.SameAs(b), "same seed must give the same images");
            Assert.Equal(x.shape, a.shape);
            Assert.True(a.min().item<float>() >= 0 && a.max().item<float>() <= 1, "values must stay in [0, 1]");
            Assert.True(a.sub(x).abs().max().item<float>() > 1e-3, "the corruption must change the images");
        }
        Assert.True(x.SameAs(before), "the input must not be modified");
    }

    [Theory]
    [InlineData(Corruption.Fog)]
    [InlineData(Corruption.GaussianNoise)]
    [InlineData(Corruption.MotionBlur)]
    [InlineData(Corruption.Rotation)]
    public void RandomCorruptionsDependOnSeedAndSampleIdNotOnBatch(Corruption corruption)
    {
        Tensor x = Images();
        Tensor all = Corruptions.Apply(x, corruption, 3, seed: 1, Ids);
        Tensor other = Corruptions.Apply(x, corruption, 3, seed: 2, Ids);
        Assert.False(all.SameAs(other), "another seed must give other draws");
        // Each image processed alone (same sample id) gets the same corruption as in the batch (fog draws the batch's
        // images in parallel).
        for (int i = 0; i < Ids.Length; i++)
        {
            Tensor alone = Corruptions.Apply(x.narrow(0, i, 1), corruption, 3, seed: 1, [Ids[i]]);
            Assert.True(alone.allclose(all.narrow(0, i, 1), rtol: 0, atol: 1e-6), $"image {i}");
        }
    }

    [Fact]
    public void SeverityGrowsTheChange()
    {
        Tensor x = Images();
        double Change(int s) => Corruptions.Apply(x, Corruption.GaussianNoise, s, 1, Ids).sub(x).abs().mean().item<float>();
        Assert.True(Change(5) > Change(1));
        double Contrast(int s) => Corruptions.Apply(x, Corruption.Contrast, s, 1, Ids).std().item<float>();
        Assert.True(Contrast(5) < Contrast(1));
    }

    [Fact]
    public void BadSeverityAndUnknownNameAreErrors()
    {
        Tensor x = Images();
        Assert.Contains("severity must be 1 to 5", Assert.Throws<ReparoInputException>(() => Corruptions.Apply(x, Corruption.Fog, 6, 0, Ids)).Message);
        Assert.Contains("unknown corruption 'snow'", Assert.Throws<ReparoInputException>(() => Corruptions.Parse("snow")).Message);
        Assert.Equal(Corruption.MotionBlur, Corruptions.Parse("motion-blur"));
    }

    [Fact]
    public void RotationByZeroIsIdentityAndTranslationMovesContent()
    {
        TestSupport.Init();
        Tensor x = Images();
        Assert.True(ImageTransforms.Rotate(x, 0.0).allclose(x, atol: 1e-5));
        Tensor dot = zeros(1, 1, 9, 9);
        dot[0, 0, 4, 4] = tensor(1f);
        Tensor moved = ImageTransforms.Translate(dot, [(2.0, -1.0)]);
        Assert.Equal(1f, moved[0, 0, 3, 6].item<float>(), 5);
        Tensor turned = ImageTransforms.Rotate(dot, 90.0);
        Assert.Equal(1f, turned[0, 0, 4, 4].item<float>(), 5); // the centre stays put
        Tensor off = zeros(1, 1, 9, 9);
        off[0, 0, 4, 7] = tensor(1f); // right of centre
        Tensor quarter = ImageTransforms.Rotate(off, 90.0);
        Assert.Equal(1f, quarter[0, 0, 1, 4].item<float>(), 4); // counter-clockwise: to above the centre
    }

    [Fact]
    public void PlasmaFractalIsNormalisedAndSeeded()
    {
        double[,] a = Corruptions.PlasmaFractal(1, 32, 2);
        double[,] b = Corruptions.PlasmaFractal(1, 32, 2);
        double[,] c = Corruptions.PlasmaFractal(2, 32, 2);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(0, a.Cast<double>().Min(), 9);
        Assert.Equal(1, a.Cast<double>().Max(), 9);
        // A buffer holding another map gives the same values as a fresh one.
        Corruptions.FillPlasmaFractal(c, 1, 2);
        Assert.Equal(a, c);
    }

    [Theory]
    [InlineData(2, 1, 3.0)]
    [InlineData(32, 5, 2.0)]
    [InlineData(256, 9, 1.4)]
    public void PlasmaFractalIsMnistCsDiamondSquareBitForBit(int size, int seed, double decay)
    {
        double[,] fast = Corruptions.PlasmaFractal(seed, size, decay);
        Assert.Equal(TextbookPlasmaFractal(new Random(seed), size, decay), fast);
    }

    [Theory]
    [InlineData(256, 28, 28, 1.4)]
    [InlineData(256, 28, 28, 1.7)]
    [InlineData(256, 28, 28, 2.0)]
    [InlineData(64, 5, 40, 1.5)]
    [InlineData(32, 1, 1, 3.0)]
    public void PlasmaFractalCornerIsTheWholeMapsCornerBitForBit(int size, int rows, int cols, double decay)
    {
        // The corner skips most of the last step's cells; its values and the scaling by the whole map's extremes must not change.
        var cells = new double[size * size];
        var draws = new double[size * size - 1];
        var corner = new double[rows * cols];
        for (int seed = 0; seed < 40; seed++)
        {
            double[,] whole = Corruptions.PlasmaFractal(seed * 7919 + 3, size, decay);
            Corruptions.PlasmaFractalCorner(seed * 7919 + 3, size, decay, cells, draws, rows, cols, corner);
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols; x++) Assert.Equal(whole[y, x], corner[y * cols + x]);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(-1)]
    [InlineData(161803398)]
    [InlineData(-987654321)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    [InlineData(int.MinValue + 1)]
    public void SeededDrawsAreSystemRandomsBitForBit(int seed)
    {
        // In pieces of several lengths (the generator's 55-value state wraps many times; vectors of draws end at every lane), continuing where the last ended.
        var random = new Random(seed);
        var draws = new SeededDraws(seed);
        foreach (int length in new[] { 1, 7, 8, 9, 33, 34, 35, 55, 56, 1000, 65_535 })
        {
            var values = new double[length];
            draws.Fill(values);
            foreach (double value in values) Assert.Equal(random.NextDouble(), value);
        }
    }

    /// <summary>MNIST-C's plasma_fractal as written there (modulo for every wrapped index), scaled to [0, 1].</summary>
    private static double[,] TextbookPlasmaFractal(Random rng, int mapSize, double wibbleDecay)
    {
        var map = new double[mapSize, mapSize];
        int step = mapSize;
        double wibble = 100;
        double Wibbled(double sum) => sum / 4 + wibble * (rng.NextDouble() * 2 * wibble - wibble);
        while (step >= 2)
        {
            int half = step / 2;
            for (int y = 0; y < mapSize; y += step)
                for (int x = 0; x < mapSize; x += step)
                    map[y + half, x + half] = Wibbled(map[y, x] + map[(y + step) % mapSize, x] + map[y, (x + step) % mapSize] + map[(y + step) % mapSize, (x + step) % mapSize]);
            for (int y = 0; y < mapSize; y += step)
                for (int x = 0; x < mapSize; x += step)
                {
                    int cy = y + half, cx = x + half;
                    map[y, cx] = Wibbled(map[cy, cx] + map[(cy - step + mapSize) % mapSize, cx] + map[y, x] + map[y, (x + step) % mapSize]);
                    map[cy, x] = Wibbled(map[cy, cx] + map[cy, (cx - step + mapSize) % mapSize] + map[y, x] + map[(y + step) % mapSize, x]);
                }
            step = half;
            wibble /= wibbleDecay;
        }
        double min = map.Cast<double>().Min(), max = map.Cast<double>().Max();
        for (int y = 0; y < mapSize; y++)
            for (int x = 0; x < mapSize; x++) map[y, x] = (map[y, x] - min) / (max - min);
        return map;
    }
}
