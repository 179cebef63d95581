using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>
/// Exact geometric transforms of image batches (N, C, H, W), each sample with its own parameters, by bilinear
/// resampling with zero fill (the conventions of scikit-image's <c>warp</c> with <c>inverse_map</c>, as MNIST-C uses):
/// output pixel p takes the input at A·p + t, coordinates centred on the image.
/// </summary>
public static class ImageTransforms
{
    /// <summary>Resamples every image with its own 2×3 matrix [A | t] in pixel units about the image centre.</summary>
    /// <param name="images">Images (N, C, H, W).</param>
    /// <param name="matrices">Per image: a11, a12, t1, a21, a22, t2 (t in pixels; x is the column, y the row).</param>
    public static Tensor Affine(Tensor images, IReadOnlyList<double[]> matrices)
    {
        CheckImages(images);
        if (matrices.Count != images.shape[0]) throw new ArgumentException($"{matrices.Count} matrices for {images.shape[0]} images");
        long h = images.shape[2], w = images.shape[3];
        var theta = new float[matrices.Count * 6];
        for (int i = 0; i < matrices.Count; i++)
        {
            double[] m = matrices[i];
            // Normalised coordinates (align_corners = false) are pixel offsets from the centre divided by W/2 (x) or H/2 (y).
            theta[6 * i + 0] = (float)m[0];
            theta[6 * i + 1] = (float)(m[1] * h / w);
            theta[6 * i + 2] = (float)(2 * m[2] / w);
            theta[6 * i + 3] = (float)(m[3] * w / h);
            theta[6 * i + 4] = (float)m[4];
            theta[6 * i + 5] = (float)(2 * m[5] / h);
        }
        using var scope = NewDisposeScope();
        using var thetaTensor = tensor(theta).reshape(matrices.Count, 2, 3).to(images.dtype);
        Tensor grid = nn.functional.affine_grid(thetaTensor, images.shape, align_corners: false);
        return nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Zeros, align_corners: false)
            .MoveToOuterDisposeScope();
    }

    /// <summary>Rotates each image by its angle in degrees (positive turns the picture counter-clockwise as displayed).</summary>
    public static Tensor Rotate(Tensor images, IReadOnlyList<double> degrees) =>
        Affine(images, degrees.Select(d =>
        {
            double r = d * Math.PI / 180;
            return new[] { Math.Cos(r), -Math.Sin(r), 0, Math.Sin(r), Math.Cos(r), 0 };
        }).ToArray());

    /// <summary>Rotates every image by the same angle in degrees.</summary>
    public static Tensor Rotate(Tensor images, double degrees) => Rotate(images, Enumerable.Repeat(degrees, (int)images.shape[0]).ToArray());

    /// <summary>Moves each image's content by (dx, dy) pixels (right and down positive).</summary>
    public static Tensor Translate(Tensor images, IReadOnlyList<(double Dx, double Dy)> shifts) =>
        Affine(images, shifts.Select(s => new[] { 1, 0, -s.Dx, 0, 1, -s.Dy }).ToArray());

    /// <summary>Shears each image by its shear angle in radians (scikit-image's <c>AffineTransform(shear=…)</c>).</summary>
    public static Tensor Shear(Tensor images, IReadOnlyList<double> radians) =>
        Affine(images, radians.Select(c => new[] { 1, -Math.Sin(c), 0, 0, Math.Cos(c), 0 }).ToArray());

    /// <summary>Scales each image's content about the centre by its factor (below 1 shrinks).</summary>
    public static Tensor Zoom(Tensor images, IReadOnlyList<double> factors) =>
        Affine(images, factors.Select(f => new[] { 1 / f, 0, 0, 0, 1 / f, 0 }).ToArray());

    internal static void CheckImages(Tensor images)
    {
        if (images.shape.Length != 4) throw new ReparoInputException($"image transforms need (N, C, H, W) input, got [{string.Join(",", images.shape)}]");
        if (images.dtype != ScalarType.Float32 && images.dtype != ScalarType.Float64) throw new ReparoInputException("image transforms need floating-point images");
    }
}
