using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>The image corruptions Reparo can apply (MNIST-C's definitions and severities).</summary>
public enum Corruption
{
    /// <summary>Plasma-fractal fog, blended as in MNIST-C.</summary>
    Fog,

    /// <summary>Brightness shift of the HSV value channel (for grey images: add a constant).</summary>
    Brightness,

    /// <summary>Contrast reduction towards each image's mean.</summary>
    Contrast,

    /// <summary>Additive Gaussian noise.</summary>
    GaussianNoise,

    /// <summary>One-sided motion blur along a random direction in [-45°, 45°].</summary>
    MotionBlur,

    /// <summary>Rotation about the centre by a severity-dependent angle of random sign.</summary>
    Rotation,

    /// <summary>Translation by a severity-dependent number of pixels in x and y, signs random.</summary>
    Translation,

    /// <summary>Shear of random sign.</summary>
    Shear,

    /// <summary>Zoom out (shrink about the centre).</summary>
    Zoom,
}

/// <summary>
/// Corruptions as pure functions of (images, seed, severity 1–5), batched. Each image's random draws come from its
/// own generator seeded by (seed, corruption, severity, the image's sample id), so a corrupted image is the same
/// whatever batch or subset it is processed in. Values stay in [0, 1].
/// </summary>
public static class Corruptions
{
    /// <summary>The command-line names, in enum order.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["fog", "brightness", "contrast", "gaussian-noise", "motion-blur", "rotation", "translation", "shear", "zoom"];

    // Severity tables (index = severity - 1), as in MNIST-C's corruptions.py.
    private static readonly double[] FogStrength = [1.5, 2.0, 2.5, 2.5, 3.0];
    private static readonly double[] FogDecay = [2.0, 2.0, 1.7, 1.5, 1.4];
    private static readonly double[] BrightnessShift = [0.1, 0.2, 0.3, 0.4, 0.5];
    private static readonly double[] ContrastFactor = [0.4, 0.3, 0.2, 0.1, 0.05];
    private static readonly double[] NoiseSigma = [0.08, 0.12, 0.18, 0.26, 0.38];
    private static readonly int[] BlurRadius = [10, 15, 15, 15, 20];
    private static readonly double[] BlurSigma = [3, 5, 8, 12, 15];
    private static readonly double[] AngleRadians = [0.2, 0.4, 0.6, 0.8, 1.0];
    private static readonly double[] ZoomFactor = [0.9, 0.8, 0.7, 0.6, 0.5];

    /// <summary>Parses a corruption's command-line name.</summary>
    public static Corruption Parse(string name)
    {
        int index = Names.ToList().IndexOf(name.Trim().ToLowerInvariant());
        return index >= 0 ? (Corruption)index : throw new ReparoInputException($"unknown corruption '{name}'; choose from {string.Join(", ", Names)}");
    }

    /// <summary>The command-line name of a corruption.</summary>
    public static string NameOf(Corruption corruption) => Names[(int)corruption];

    /// <summary>Corrupts a whole image dataset; sample ids are the rows' source indices.</summary>
    public static Dataset Apply(Dataset data, Corruption corruption, int severity, int seed)
    {
        if (data.Kind != InputKind.Image) throw new ReparoInputException($"corruptions apply to images; '{data.Name}' holds {data.Kind.ToString().ToLowerInvariant()}");
        using var scope = NewDisposeScope();
        Tensor x = Apply(data.X, corruption, severity, seed, data.SourceIndices);
        return data.WithInputs(x, $"{data.Name}+{NameOf(corruption)}:{severity}");
    }

    /// <summary>Corrupts images (N, C, H, W) in [0, 1].</summary>
    /// <param name="images">The clean images (not modified).</param>
    /// <param name="corruption">Which corruption.</param>
    /// <param name="severity">1 (mild) to 5 (strong).</param>
    /// <param name="seed">Seed of the random draws.</param>
    /// <param name="sampleIds">Each image's id (for example its index in the test file); it seeds that image's draws.</param>
    public static Tensor Apply(Tensor images, Corruption corruption, int severity, int seed, IReadOnlyList<int> sampleIds)
    {
        ImageTransforms.CheckImages(images);
        if (severity is < 1 or > 5) throw new ReparoInputException($"severity must be 1 to 5, got {severity}");
        if (sampleIds.Count != images.shape[0]) throw new ArgumentException($"{sampleIds.Count} sample ids for {images.shape[0]} images");
        int[] seeds = [.. sampleIds.Select(id => SampleSeed(seed, corruption, severity, id))];
        Random[] rngs = corruption == Corruption.Fog ? [] : [.. seeds.Select(s => new Random(s))];
        int s = severity - 1;
        using var scope = NewDisposeScope();
        Tensor result = corruption switch
        {
            Corruption.Fog => Fog(images, FogStrength[s], FogDecay[s], seeds),
            Corruption.Brightness => images.add(BrightnessShift[s]),
            Corruption.Contrast => Contrast(images, ContrastFactor[s]),
            Corruption.GaussianNoise => images.add(Normal(images, rngs, NoiseSigma[s])),
            Corruption.MotionBlur => MotionBlur(images, BlurRadius[s], BlurSigma[s], rngs),
            Corruption.Rotation => ImageTransforms.Rotate(images, rngs.Select(r => Sign(r) * AngleRadians[s] * 180 / Math.PI).ToArray()),
            Corruption.Translation => ImageTransforms.Translate(images, rngs.Select(r => (Sign(r) * (s + 1.0), Sign(r) * (s + 1.0))).ToArray()),
            Corruption.Shear => ImageTransforms.Shear(images, rngs.Select(r => Sign(r) * AngleRadians[s]).ToArray()),
            Corruption.Zoom => ImageTransforms.Zoom(images, Enumerable.Repeat(ZoomFactor[s], rngs.Length).ToArray()),
            _ => throw new ArgumentOutOfRangeException(nameof(corruption)),
        };
        return result.clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A plasma fractal (diamond–square, MNIST-C's <c>plasma_fractal</c>) of side <paramref name="mapSize"/> (a power of
    /// two), scaled to [0, 1], from the draws of <c>new Random(<paramref name="seed"/>)</c>.
    /// </summary>
    public static double[,] PlasmaFractal(int seed, int mapSize = 256, double wibbleDecay = 3)
    {
        if (mapSize < 2 || (mapSize & (mapSize - 1)) != 0) throw new ArgumentException("map size must be a power of two");
        var map = new double[mapSize, mapSize];
        FillPlasmaFractal(map, seed, wibbleDecay);
        return map;
    }

    /// <summary>
    /// <see cref="PlasmaFractal"/> into <paramref name="map"/> (square, a power of two), which may hold an earlier map:
    /// the diamond–square steps write every cell before reading it except the corner (0, 0), which is reset, so a reused
    /// buffer gives the same values as a fresh one.
    /// </summary>
    internal static void FillPlasmaFractal(double[,] map, int seed, double wibbleDecay)
    {
        Span<double> cells = MemoryMarshal.CreateSpan(ref Unsafe.As<byte, double>(ref MemoryMarshal.GetArrayDataReference(map)), map.Length);
        var draws = new double[map.Length - 1];
        new SeededDraws(seed).Fill(draws);
        (double min, double max) = DiamondSquare(cells, map.GetLength(0), draws, wibbleDecay);
        for (int i = 0; i < cells.Length; i++) cells[i] = (cells[i] - min) / (max - min);
    }

    /// <summary>
    /// The top-left <paramref name="rows"/> × <paramref name="cols"/> corner of <see cref="PlasmaFractal"/>'s map (same
    /// seed, side <paramref name="size"/> and decay), scaled to [0, 1] over the whole map, row-major into
    /// <paramref name="corner"/>, to the bit. <paramref name="cells"/> (size²) and <paramref name="draws"/> (size² − 1)
    /// are work space; the map's cells outside the corner are not all computed (see <see cref="DiamondSquare"/>).
    /// </summary>
    internal static void PlasmaFractalCorner(int seed, int size, double wibbleDecay, Span<double> cells, Span<double> draws, int rows, int cols, Span<double> corner)
    {
        new SeededDraws(seed).Fill(draws);
        (double min, double max) = DiamondSquare(cells, size, draws, wibbleDecay, rows, cols);
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) corner[y * cols + x] = (cells[y * size + x] - min) / (max - min);
    }

    /// <summary>
    /// MNIST-C's diamond–square steps on a <paramref name="size"/> × <paramref name="size"/> row-major map (indices wrap
    /// around), unscaled; returns the smallest and largest value. Wrapped neighbours are found without a division, so a
    /// 256 × 256 map per image stays cheap; the sums come in MNIST-C's order and take <paramref name="draws"/> (size² − 1
    /// values in [0, 1)) in its order of random draws (each cell's draw has a fixed index, so cells can be computed out
    /// of order with the same values). When only the top-left <paramref name="rows"/> × <paramref name="cols"/> corner is
    /// needed (with the extremes), the last step skips the tiles whose cells cannot reach beyond the extremes already
    /// known: each of its cells is a mean of cells already computed plus a draw within ±wibble², so a tile's cells lie
    /// within ±2·wibble² of the range of the cells they are computed from; the extremes are then exact and the corner
    /// complete, the skipped cells left unset.
    /// </summary>
    private static (double Min, double Max) DiamondSquare(Span<double> cells, int size, ReadOnlySpan<double> draws, double wibbleDecay, int rows = int.MaxValue, int cols = int.MaxValue)
    {
        int d = 0;
        double Wibbled(double sum, double wibble, ReadOnlySpan<double> draws) => sum / 4 + wibble * (draws[d++] * 2 * wibble - wibble);
        bool pruned = size >= 2 * PruneTile && (rows < size || cols < size);
        cells[0] = 0;
        double wibble = 100;
        for (int step = size; step >= (pruned ? 4 : 2); step /= 2, wibble /= wibbleDecay)
        {
            int half = step / 2;
            // Squares: each centre from its four corners.
            for (int y = 0; y < size; y += step)
            {
                int row = y * size, below = (y + step == size ? 0 : y + step) * size, centre = (y + half) * size;
                for (int x = 0; x < size; x += step)
                {
                    int right = x + step == size ? 0 : x + step;
                    cells[centre + x + half] = Wibbled(cells[row + x] + cells[below + x] + cells[row + right] + cells[below + right], wibble, draws);
                }
            }
            // Diamonds: edge midpoints from the two neighbouring corners and centres.
            for (int y = 0; y < size; y += step)
            {
                int row = y * size, below = (y + step == size ? 0 : y + step) * size, centre = (y + half) * size;
                int above = (y == 0 ? size - half : y - half) * size;
                for (int x = 0; x < size; x += step)
                {
                    int cx = x + half, right = x + step == size ? 0 : x + step, left = x == 0 ? size - half : x - half;
                    cells[row + cx] = Wibbled(cells[centre + cx] + cells[above + cx] + cells[row + x] + cells[row + right], wibble, draws);
                    cells[centre + x] = Wibbled(cells[centre + cx] + cells[centre + left] + cells[row + x] + cells[below + x], wibble, draws);
                }
            }
        }
        // No value is NaN, so plain comparisons find what Math.Min and Math.Max would, at a fraction of their cost.
        double min = double.MaxValue, max = double.MinValue;
        int stride = pruned ? 2 : 1;
        for (int y = 0; y < size; y += stride)
            for (int x = 0; x < size; x += stride)
            {
                double v = cells[y * size + x];
                if (v < min) min = v;
                if (v > max) max = v;
            }
        if (pruned) LastStepByTiles(cells, size, draws, d, wibble, rows, cols, ref min, ref max);
        return (min, max);
    }

    /// <summary>Side of the tiles <see cref="LastStepByTiles"/> computes or skips.</summary>
    private const int PruneTile = 16;

    /// <summary>
    /// The diamond–square's last step (step 2: every cell with an odd coordinate), tile by tile, for tiles that meet the
    /// corner or whose bound reaches beyond [<paramref name="min"/>, <paramref name="max"/>], which it widens to the cells
    /// it computes. <paramref name="first"/> is the step's first draw; the cells with even coordinates are complete.
    /// </summary>
    private static void LastStepByTiles(Span<double> cells, int size, ReadOnlySpan<double> draws, int first, double wibble, int rows, int cols, ref double min, ref double max)
    {
        int squares = size / 2, mask = size - 1;
        double reach = 2 * wibble * wibble;
        static double Noise(ReadOnlySpan<double> draws, int draw, double wibble) => wibble * (draws[draw] * 2 * wibble - wibble);
        // The centre of the square whose top-left corner is (y, x), both even, with its fixed draw.
        double Centre(Span<double> c, ReadOnlySpan<double> draws, int y, int x)
        {
            int below = (y + 2) & mask, right = (x + 2) & mask;
            return (c[y * size + x] + c[below * size + x] + c[y * size + right] + c[below * size + right]) / 4 + Noise(draws, first + (y / 2) * squares + x / 2, wibble);
        }
        for (int ty = 0; ty < size; ty += PruneTile)
            for (int tx = 0; tx < size; tx += PruneTile)
            {
                if (ty >= rows || tx >= cols)
                {
                    // The even cells this tile's cells are computed from: the tile and a margin of 2 all round.
                    double low = double.MaxValue, high = double.MinValue;
                    for (int y = ty - 2; y <= ty + PruneTile + 2; y += 2)
                        for (int x = tx - 2; x <= tx + PruneTile + 2; x += 2)
                        {
                            double v = cells[(y & mask) * size + (x & mask)];
                            if (v < low) low = v;
                            if (v > high) high = v;
                        }
                    if (low - reach > min && high + reach < max) continue;
                }
                for (int y = ty; y < ty + PruneTile; y += 2)
                    for (int x = tx; x < tx + PruneTile; x += 2)
                    {
                        int cy = y + 1, cx = x + 1, s = (y / 2) * squares + x / 2;
                        double centre = Centre(cells, draws, y, x), above = Centre(cells, draws, (y - 2) & mask, x), left = Centre(cells, draws, y, (x - 2) & mask);
                        cells[cy * size + cx] = centre;
                        // In MNIST-C's order: the square's centre, then the diamond cell above it, then the one to its left.
                        double top = (centre + above + cells[y * size + x] + cells[y * size + ((x + 2) & mask)]) / 4 + Noise(draws, first + squares * squares + 2 * s, wibble);
                        double side = (centre + left + cells[y * size + x] + cells[((y + 2) & mask) * size + x]) / 4 + Noise(draws, first + squares * squares + 2 * s + 1, wibble);
                        cells[y * size + cx] = top;
                        cells[cy * size + x] = side;
                        foreach (double v in (ReadOnlySpan<double>)[centre, top, side])
                        {
                            if (v < min) min = v;
                            if (v > max) max = v;
                        }
                    }
            }
    }

    /// <summary>
    /// MNIST-C's fog: one plasma fractal per image (its own seeded draws), of which the top-left H × W corner, scaled to
    /// [0, 1] over the whole map, is added. Images are independent, so they are drawn in parallel (a map and a draw buffer per
    /// worker) on torch's thread count, with the same bytes for any count.
    /// </summary>
    private static Tensor Fog(Tensor images, double strength, double decay, int[] seeds)
    {
        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        int size = 256;
        while (size < Math.Max(h, w)) size *= 2;
        var fog = new float[n * h * w];
        Parallel.For(0, (int)n, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) },
            () => (Cells: new double[size * size], Draws: new double[size * size - 1], Corner: new double[h * w]), (i, _, buffers) =>
        {
            PlasmaFractalCorner(seeds[i], size, decay, buffers.Cells, buffers.Draws, (int)h, (int)w, buffers.Corner);
            for (long p = 0; p < h * w; p++) fog[i * h * w + p] = (float)(strength * buffers.Corner[p]);
            return buffers;
        }, _ => { });
        Tensor max = images.amax([1, 2, 3], keepdim: true);
        Tensor fogged = images.add(tensor(fog).reshape(n, 1, h, w).expand(n, c, h, w).to(images.dtype));
        return fogged.mul(max).div(max.add(strength));
    }

    private static Tensor Contrast(Tensor images, double factor)
    {
        Tensor mean = images.mean([2, 3], keepdim: true);
        return images.sub(mean).mul(factor).add(mean);
    }

    private static Tensor Normal(Tensor images, Random[] rngs, double sigma)
    {
        long per = images.numel() / images.shape[0];
        var noise = new float[images.numel()];
        for (int i = 0; i < rngs.Length; i++)
            for (long j = 0; j < per; j++)
            {
                // Box–Muller from the image's own generator.
                double u1 = 1.0 - rngs[i].NextDouble(), u2 = rngs[i].NextDouble();
                noise[i * per + j] = (float)(sigma * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
        return tensor(noise).reshape(images.shape).to(images.dtype);
    }

    private static Tensor MotionBlur(Tensor images, int radius, double sigma, Random[] rngs)
    {
        double[] angles = rngs.Select(r => (r.NextDouble() * 90 - 45) * Math.PI / 180).ToArray();
        double[] weights = Enumerable.Range(0, radius + 1).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
        double total = weights.Sum();
        Tensor sum = images.mul(weights[0] / total);
        for (int i = 1; i <= radius; i++)
        {
            int step = i;
            sum = sum.add(ImageTransforms.Translate(images, angles.Select(a => (step * Math.Cos(a), step * Math.Sin(a))).ToArray()).mul(weights[i] / total));
        }
        return sum;
    }

    private static double Sign(Random rng) => rng.Next(2) == 0 ? -1 : 1;

    private static int SampleSeed(int seed, Corruption corruption, int severity, int sampleId)
    {
        unchecked
        {
            uint h = 2166136261;
            foreach (int part in new[] { seed, (int)corruption, severity, sampleId })
            {
                h = (h ^ (uint)part) * 16777619;
                h ^= h >> 13;
            }
            return (int)(h & 0x7fffffff);
        }
    }
}
