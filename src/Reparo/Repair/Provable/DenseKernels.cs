using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Reparo.Repair.Provable;

/// <summary>
/// Dense row-major kernels for the block interior-point solver: a register-tiled product update, Cholesky
/// factorisation and triangular solves. Matrices are flat arrays with a leading dimension (the distance between rows);
/// a symmetric matrix is held in full storage of which only the lower triangle is read and written. Every result
/// depends only on the input (never on the thread count): parallel loops split independent rows. Nor does it depend on
/// the vector width: the product update uses 8 × 16 tiles in 512-bit registers where the hardware has them and narrower
/// tiles elsewhere, and every entry's sum runs over the depth in the same order in all of them.
/// </summary>
internal static class DenseKernels
{
    /// <summary>Rows per step of <see cref="SolveLowerInPlace"/>: one product update with the rows above, then a small solve.</summary>
    private const int SolveRowsPerStep = 48;

    /// <summary>Rows of a tile of the product update (the micro-kernel keeps RowsPerTile × 2 vectors in registers).</summary>
    private const int RowsPerTile = 4;

    /// <summary>Rows and columns of a tile of the product update in 512-bit registers.</summary>
    private const int WideRows = 8, WideColumns = 16;

    /// <summary>Side of the square tiles <see cref="Transpose"/> copies one at a time.</summary>
    private const int TransposeTile = 32;

    /// <summary>Depth of one slice of a product update.</summary>
    private const int DepthSlice = 128;

    /// <summary>Columns of B one pass of the 8 × 16 tiles reads (a multiple of 16; with a depth slice, 256 KB of B).</summary>
    private const int ColumnBlock = 256;

    /// <summary>Rows of the trailing matrix one parallel task updates.</summary>
    private const int RowsPerTask = 64;

    /// <summary>Pivot replacing one that is not clearly positive: its row then contributes (practically) nothing to a solve.</summary>
    public const double DroppedPivot = 1e64;

    private static int Width => Vector<double>.Count;

    /// <summary>
    /// C[i, j] −= Σ_k A[i, k]·B[k, j] for i &lt; <paramref name="rows"/>, j &lt; <paramref name="cols"/>, k &lt; <paramref name="depth"/>.
    /// With a <paramref name="diagonal"/> offset d only the entries j ≤ i + d are needed (the lower part of a symmetric
    /// update); a few entries just beyond are written too, so that part of C must be free storage.
    /// </summary>
    public static void SubtractProduct(Span<double> c, int ldc, ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb,
        int rows, int cols, int depth, int? diagonal = null)
    {
        // Slices of the depth keep the rows of B in use within the core's cache.
        for (int k0 = 0; k0 < depth; k0 += DepthSlice)
            SubtractProductSlice(c, ldc, a[k0..], lda, b[(k0 * ldb)..], ldb, rows, cols, Math.Min(DepthSlice, depth - k0), diagonal);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SubtractProductSlice(Span<double> c, int ldc, ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb,
        int rows, int cols, int depth, int? diagonal)
    {
        if (rows == 0 || cols == 0 || depth == 0) return;
        ref double c0 = ref MemoryMarshal.GetReference(c);
        ref double a0 = ref MemoryMarshal.GetReference(a);
        ref double b0 = ref MemoryMarshal.GetReference(b);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && rows >= WideRows && cols >= WideColumns)
        {
            // 8 × 16 tiles in 512-bit registers where the hardware has them; each entry's sum runs over k in the same
            // order as in the narrower tiles, so the result is the same to the bit. The rows of A a band of tiles
            // needs are packed first, so that each step of k reads them from one place.
            Span<double> packed = stackalloc double[WideRows * DepthSlice];
            ref double panel = ref MemoryMarshal.GetReference(packed);
            int wideRows = rows / WideRows * WideRows;
            // Blocks of columns keep the part of B they read within the core's second-level cache while every band of
            // rows passes over it.
            for (int j0 = 0; j0 < cols; j0 += ColumnBlock)
            {
                int j1 = Math.Min(j0 + ColumnBlock, cols);
                for (i = 0; i < wideRows; i += WideRows)
                {
                    int end = ColumnsNeeded(i, WideRows, j1, diagonal);
                    if (end <= j0) continue;
                    for (int r = 0; r < WideRows; r++)
                    {
                        ReadOnlySpan<double> row = a.Slice((i + r) * lda, depth);
                        for (int k = 0; k < depth; k++) packed[k * WideRows + r] = row[k];
                    }
                    int j = j0;
                    for (; j < end && j + WideColumns <= j1; j += WideColumns) Tile8x16(ref c0, ldc, ref panel, ref b0, ldb, i, j, depth);
                    SubtractRows(ref c0, ldc, ref a0, lda, ref b0, ldb, i, RowsPerTile, j, j1, depth, diagonal);
                    SubtractRows(ref c0, ldc, ref a0, lda, ref b0, ldb, i + RowsPerTile, RowsPerTile, j, j1, depth, diagonal);
                }
            }
            i = wideRows;
        }
        for (; i < rows; i += RowsPerTile) SubtractRows(ref c0, ldc, ref a0, lda, ref b0, ldb, i, Math.Min(RowsPerTile, rows - i), 0, cols, depth, diagonal);
    }

    /// <summary>The columns rows [i, i + tileRows) need: all, or those up to the diagonal offset past the last row.</summary>
    private static int ColumnsNeeded(int i, int tileRows, int cols, int? diagonal) => diagonal is int d ? Math.Clamp(i + tileRows + d, 0, cols) : cols;

    /// <summary>The product update for rows [i, i + tileRows) (at most <see cref="RowsPerTile"/>) from column <paramref name="j"/> on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SubtractRows(ref double c0, int ldc, ref double a0, int lda, ref double b0, int ldb, int i, int tileRows, int j, int cols, int depth, int? diagonal)
    {
        int w = Width;
        int end = ColumnsNeeded(i, tileRows, cols, diagonal);
        if (tileRows == RowsPerTile)
        {
            for (; j < end && j + 2 * w <= cols; j += 2 * w) Tile4x2(ref c0, ldc, ref a0, lda, ref b0, ldb, i, j, depth);
            for (; j < end && j + w <= cols; j += w) Tile4x1(ref c0, ldc, ref a0, lda, ref b0, ldb, i, j, depth);
        }
        else
        {
            for (; j < end && j + w <= cols; j += w)
                for (int r = i; r < i + tileRows; r++) Tile1xVector(ref c0, ldc, ref a0, lda, ref b0, ldb, r, j, depth);
        }
        for (; j < end; j++)
            for (int r = i; r < i + tileRows; r++) SubtractDot(ref c0, ldc, ref a0, lda, ref b0, ldb, r, j, depth);
    }

    /// <summary>
    /// An 8 × 16 tile: sixteen 512-bit accumulators, two loads of B and eight broadcasts from the packed rows of A
    /// (<paramref name="panel"/>[8·k + r] = A[i + r, k]) per step of k.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x16(ref double c, int ldc, ref double panel, ref double b, int ldb, int i, int j, int depth)
    {
        Vector512<double> s00 = Vector512<double>.Zero, s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
        Vector512<double> s40 = s00, s41 = s00, s50 = s00, s51 = s00, s60 = s00, s61 = s00, s70 = s00, s71 = s00;
        ref double bk = ref Unsafe.Add(ref b, j);
        ref double ak = ref panel;
        for (int k = 0; k < depth; k++)
        {
            Vector512<double> v0 = Vector512.LoadUnsafe(ref bk), v1 = Vector512.LoadUnsafe(ref bk, 8);
            Vector512<double> x = Vector512.Create(ak);
            s00 = Vector512.FusedMultiplyAdd(x, v0, s00);
            s01 = Vector512.FusedMultiplyAdd(x, v1, s01);
            x = Vector512.Create(Unsafe.Add(ref ak, 1));
            s10 = Vector512.FusedMultiplyAdd(x, v0, s10);
            s11 = Vector512.FusedMultiplyAdd(x, v1, s11);
            x = Vector512.Create(Unsafe.Add(ref ak, 2));
            s20 = Vector512.FusedMultiplyAdd(x, v0, s20);
            s21 = Vector512.FusedMultiplyAdd(x, v1, s21);
            x = Vector512.Create(Unsafe.Add(ref ak, 3));
            s30 = Vector512.FusedMultiplyAdd(x, v0, s30);
            s31 = Vector512.FusedMultiplyAdd(x, v1, s31);
            x = Vector512.Create(Unsafe.Add(ref ak, 4));
            s40 = Vector512.FusedMultiplyAdd(x, v0, s40);
            s41 = Vector512.FusedMultiplyAdd(x, v1, s41);
            x = Vector512.Create(Unsafe.Add(ref ak, 5));
            s50 = Vector512.FusedMultiplyAdd(x, v0, s50);
            s51 = Vector512.FusedMultiplyAdd(x, v1, s51);
            x = Vector512.Create(Unsafe.Add(ref ak, 6));
            s60 = Vector512.FusedMultiplyAdd(x, v0, s60);
            s61 = Vector512.FusedMultiplyAdd(x, v1, s61);
            x = Vector512.Create(Unsafe.Add(ref ak, 7));
            s70 = Vector512.FusedMultiplyAdd(x, v0, s70);
            s71 = Vector512.FusedMultiplyAdd(x, v1, s71);
            bk = ref Unsafe.Add(ref bk, ldb);
            ak = ref Unsafe.Add(ref ak, WideRows);
        }
        nuint target = (nuint)(i * ldc + j), next = (nuint)ldc;
        Subtract(ref c, target, s00, s01);
        Subtract(ref c, target + next, s10, s11);
        Subtract(ref c, target + 2 * next, s20, s21);
        Subtract(ref c, target + 3 * next, s30, s31);
        Subtract(ref c, target + 4 * next, s40, s41);
        Subtract(ref c, target + 5 * next, s50, s51);
        Subtract(ref c, target + 6 * next, s60, s61);
        Subtract(ref c, target + 7 * next, s70, s71);
    }

    private static void Subtract(ref double c, nuint offset, Vector512<double> first, Vector512<double> second)
    {
        (Vector512.LoadUnsafe(ref c, offset) - first).StoreUnsafe(ref c, offset);
        (Vector512.LoadUnsafe(ref c, offset + 8) - second).StoreUnsafe(ref c, offset + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2(ref double c, int ldc, ref double a, int lda, ref double b, int ldb, int i, int j, int depth)
    {
        int w = Width;
        Vector<double> s00 = Vector<double>.Zero, s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
        nuint rowA0 = (nuint)(i * lda), rowA1 = rowA0 + (nuint)lda, rowA2 = rowA1 + (nuint)lda, rowA3 = rowA2 + (nuint)lda;
        nuint colB = (nuint)j;
        for (int k = 0; k < depth; k++)
        {
            nuint offset = (nuint)(k * ldb) + colB;
            Vector<double> v0 = Vector.LoadUnsafe(ref b, offset), v1 = Vector.LoadUnsafe(ref b, offset + (nuint)w);
            var x0 = new Vector<double>(Unsafe.Add(ref a, rowA0 + (nuint)k));
            var x1 = new Vector<double>(Unsafe.Add(ref a, rowA1 + (nuint)k));
            var x2 = new Vector<double>(Unsafe.Add(ref a, rowA2 + (nuint)k));
            var x3 = new Vector<double>(Unsafe.Add(ref a, rowA3 + (nuint)k));
            s00 = Vector.FusedMultiplyAdd(x0, v0, s00);
            s01 = Vector.FusedMultiplyAdd(x0, v1, s01);
            s10 = Vector.FusedMultiplyAdd(x1, v0, s10);
            s11 = Vector.FusedMultiplyAdd(x1, v1, s11);
            s20 = Vector.FusedMultiplyAdd(x2, v0, s20);
            s21 = Vector.FusedMultiplyAdd(x2, v1, s21);
            s30 = Vector.FusedMultiplyAdd(x3, v0, s30);
            s31 = Vector.FusedMultiplyAdd(x3, v1, s31);
        }
        Subtract(ref c, (nuint)(i * ldc + j), w, s00, s01);
        Subtract(ref c, (nuint)((i + 1) * ldc + j), w, s10, s11);
        Subtract(ref c, (nuint)((i + 2) * ldc + j), w, s20, s21);
        Subtract(ref c, (nuint)((i + 3) * ldc + j), w, s30, s31);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x1(ref double c, int ldc, ref double a, int lda, ref double b, int ldb, int i, int j, int depth)
    {
        Vector<double> s0 = Vector<double>.Zero, s1 = s0, s2 = s0, s3 = s0;
        nuint rowA0 = (nuint)(i * lda), rowA1 = rowA0 + (nuint)lda, rowA2 = rowA1 + (nuint)lda, rowA3 = rowA2 + (nuint)lda;
        for (int k = 0; k < depth; k++)
        {
            Vector<double> v = Vector.LoadUnsafe(ref b, (nuint)(k * ldb + j));
            s0 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a, rowA0 + (nuint)k)), v, s0);
            s1 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a, rowA1 + (nuint)k)), v, s1);
            s2 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a, rowA2 + (nuint)k)), v, s2);
            s3 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a, rowA3 + (nuint)k)), v, s3);
        }
        for (int r = 0; r < RowsPerTile; r++)
        {
            nuint offset = (nuint)((i + r) * ldc + j);
            Vector<double> sum = r switch { 0 => s0, 1 => s1, 2 => s2, _ => s3 };
            (Vector.LoadUnsafe(ref c, offset) - sum).StoreUnsafe(ref c, offset);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1xVector(ref double c, int ldc, ref double a, int lda, ref double b, int ldb, int i, int j, int depth)
    {
        Vector<double> sum = Vector<double>.Zero;
        nuint row = (nuint)(i * lda);
        for (int k = 0; k < depth; k++) sum = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a, row + (nuint)k)), Vector.LoadUnsafe(ref b, (nuint)(k * ldb + j)), sum);
        nuint offset = (nuint)(i * ldc + j);
        (Vector.LoadUnsafe(ref c, offset) - sum).StoreUnsafe(ref c, offset);
    }

    private static void Subtract(ref double c, nuint offset, int w, Vector<double> first, Vector<double> second)
    {
        (Vector.LoadUnsafe(ref c, offset) - first).StoreUnsafe(ref c, offset);
        (Vector.LoadUnsafe(ref c, offset + (nuint)w) - second).StoreUnsafe(ref c, offset + (nuint)w);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SubtractDot(ref double c, int ldc, ref double a, int lda, ref double b, int ldb, int i, int j, int depth)
    {
        double sum = 0;
        for (int k = 0; k < depth; k++) sum = Math.FusedMultiplyAdd(Unsafe.Add(ref a, i * lda + k), Unsafe.Add(ref b, k * ldb + j), sum);
        Unsafe.Add(ref c, i * ldc + j) -= sum;
    }

    /// <summary>Σ x[k]·y[k].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int w = Width, n = x.Length, k = 0;
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double y0 = ref MemoryMarshal.GetReference(y);
        Vector<double> s0 = Vector<double>.Zero, s1 = s0;
        for (; k + 2 * w <= n; k += 2 * w)
        {
            s0 = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref x0, (nuint)k), Vector.LoadUnsafe(ref y0, (nuint)k), s0);
            s1 = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref x0, (nuint)(k + w)), Vector.LoadUnsafe(ref y0, (nuint)(k + w)), s1);
        }
        double sum = Vector.Sum(s0 + s1);
        for (; k < n; k++) sum = Math.FusedMultiplyAdd(x[k], y[k], sum);
        return sum;
    }

    /// <summary>y[k] += alpha·x[k].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddScaled(Span<double> y, double alpha, ReadOnlySpan<double> x)
    {
        int w = Width, n = y.Length, k = 0;
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double y0 = ref MemoryMarshal.GetReference(y);
        var factor = new Vector<double>(alpha);
        for (; k + w <= n; k += w)
            Vector.FusedMultiplyAdd(factor, Vector.LoadUnsafe(ref x0, (nuint)k), Vector.LoadUnsafe(ref y0, (nuint)k)).StoreUnsafe(ref y0, (nuint)k);
        for (; k < n; k++) y[k] = Math.FusedMultiplyAdd(alpha, x[k], y[k]);
    }

    /// <summary>
    /// y[k] += alpha·x[k] with each product rounded before it is added (no fused multiply–add), so the sums are the same
    /// to the bit as a scalar loop's, e.g. a sparse column's entry by entry (<see cref="HubPairColumns"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddScaledUnfused(Span<double> y, double alpha, ReadOnlySpan<double> x)
    {
        int w = Width, n = y.Length, k = 0;
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double y0 = ref MemoryMarshal.GetReference(y);
        var factor = new Vector<double>(alpha);
        for (; k + w <= n; k += w) (Vector.LoadUnsafe(ref y0, (nuint)k) + factor * Vector.LoadUnsafe(ref x0, (nuint)k)).StoreUnsafe(ref y0, (nuint)k);
        for (; k < n; k++) y[k] += alpha * x[k];
    }

    /// <summary>
    /// Factors the symmetric matrix in the lower triangle of <paramref name="a"/> (n × n, row-major) as L·Lᵀ in place,
    /// recursively: factor the leading half, solve for the block below it, update the trailing half with one product,
    /// factor that. A pivot at or below <paramref name="pivotTolerance"/> times its row's original diagonal (or not
    /// finite) is replaced by <see cref="DroppedPivot"/>², which all but removes that row from later solves, as
    /// interior-point codes do for the nearly dependent rows of their normal equations. <paramref name="reference"/>
    /// gives the diagonal the tolerance is relative to when it is not the matrix's own (a Schur complement's, before
    /// the subtraction). Returns the number of replaced pivots.
    /// </summary>
    public static int Cholesky(double[] a, int n, double pivotTolerance, int threads, double[]? reference = null)
    {
        double[] original = ArrayPool<double>.Shared.Rent(n);
        double[] packed = ArrayPool<double>.Shared.Rent(n * n / 4 + 2 * RecursiveCholesky.SmallBlock * n);
        try
        {
            for (int i = 0; i < n; i++) original[i] = Math.Max(a[i * n + i], reference?[i] ?? 0);
            var factorisation = new RecursiveCholesky(a, n, original, packed, pivotTolerance, threads);
            factorisation.Factor(0, n);
            return factorisation.Dropped;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(original);
            ArrayPool<double>.Shared.Return(packed);
        }
    }

    /// <summary>The state of one recursive factorisation: the matrix, the pivot rule and a buffer for packed operands.</summary>
    private sealed class RecursiveCholesky(double[] a, int n, double[] original, double[] packed, double pivotTolerance, int threads)
    {
        /// <summary>Blocks up to this size are factored column by column.</summary>
        public const int SmallBlock = 16;

        public int Dropped { get; private set; }

        /// <summary>Factors the diagonal block [o, o + size), whose earlier columns are already applied.</summary>
        public void Factor(int o, int size)
        {
            if (size <= SmallBlock)
            {
                FactorSmall(o, size);
                return;
            }
            int half = Split(size);
            Factor(o, half);
            int rest = size - half;
            // The rows below the factored block are independent of one another in the solve: bands of them run in
            // parallel, each reading the transpose of the block's lower triangle (the right operand of its products)
            // from one copy.
            ForBands(half, threads, (k0, count) => Transpose(a.AsSpan((o + k0) * n + o), n, count, k0 + count, packed.AsSpan(k0), half));
            ForBands(rest, threads, (r0, rows) => SolveRight(o + half + r0, rows, o, half, o, half));
            ForBands(rest, threads, (j0, count) => Transpose(a.AsSpan((o + half + j0) * n + o), n, count, half, packed.AsSpan(j0), rest));
            ForBands(rest, threads, (r0, rows) =>
                SubtractProduct(a.AsSpan((o + half + r0) * n + o + half), n, a.AsSpan((o + half + r0) * n + o), n, packed, rest, rows, rest, half, diagonal: r0));
            Factor(o + half, rest);
        }

        /// <summary>
        /// X·Lᵀ = B for the rows [r0, r0 + rows) and the factored diagonal block [c0, c0 + width) (X overwrites B), on
        /// one thread. The packed buffer holds the transpose of the factored block [t0, t0 + side) that contains it
        /// (packed[k·side + j] = L[t0 + j, t0 + k]).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void SolveRight(int r0, int rows, int c0, int width, int t0, int side)
        {
            if (width <= SmallBlock / 2)
            {
                // Column by column on a transposed copy, so that each step is one long vector operation over the rows.
                double[] panel = ArrayPool<double>.Shared.Rent(width * rows);
                try
                {
                    Transpose(a.AsSpan(r0 * n + c0), n, rows, width, panel, rows);
                    for (int t = 0; t < width; t++)
                    {
                        Span<double> column = panel.AsSpan(t * rows, rows);
                        int diagonalRow = (c0 + t) * n + c0;
                        for (int s = 0; s < t; s++) AddScaled(column, -a[diagonalRow + s], panel.AsSpan(s * rows, rows));
                        double pivot = a[diagonalRow + t];
                        for (int i = 0; i < rows; i++) column[i] /= pivot;
                    }
                    Transpose(panel, rows, width, rows, a.AsSpan(r0 * n + c0), n);
                }
                finally
                {
                    ArrayPool<double>.Shared.Return(panel);
                }
                return;
            }
            int half = Split(width);
            SolveRight(r0, rows, c0, half, t0, side);
            int rest = width - half;
            SubtractProduct(a.AsSpan(r0 * n + c0 + half), n, a.AsSpan(r0 * n + c0), n, packed.AsSpan((c0 - t0) * side + c0 + half - t0), side, rows, rest, half);
            SolveRight(r0, rows, c0 + half, rest, t0, side);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void FactorSmall(int o, int size)
        {
            for (int j = o; j < o + size; j++)
            {
                ReadOnlySpan<double> rowJ = a.AsSpan(j * n + o, j - o);
                double pivot = a[j * n + j] - Dot(rowJ, rowJ);
                if (!(pivot > pivotTolerance * Math.Max(original[j], 0)) || !double.IsFinite(pivot))
                {
                    pivot = DroppedPivot * DroppedPivot;
                    Dropped++;
                }
                double root = Math.Sqrt(pivot);
                a[j * n + j] = root;
                for (int i = j + 1; i < o + size; i++) a[i * n + j] = (a[i * n + j] - Dot(a.AsSpan(i * n + o, j - o), rowJ)) / root;
            }
        }

        /// <summary>The size of the leading part: about half, a multiple of eight columns.</summary>
        private static int Split(int size) => Math.Clamp((size / 2 + 7) / 8 * 8, 8, size - 1);
    }

    /// <summary>Runs <paramref name="band"/>(first row, rows) over bands of <see cref="RowsPerTask"/> rows, in parallel when threads allow.</summary>
    private static void ForBands(int rows, int threads, Action<int, int> band) => ForBands(rows, RowsPerTask, threads, band);

    /// <summary>
    /// Runs <paramref name="band"/>(first, count) over [0, <paramref name="total"/>) in bands of
    /// <paramref name="bandSize"/>, in parallel when threads allow, one band after another otherwise. The bands must be
    /// independent of one another (each writes only its own part), so the result does not depend on the thread count.
    /// </summary>
    public static void ForBands(int total, int bandSize, int threads, Action<int, int> band)
    {
        int bands = (total + bandSize - 1) / bandSize;
        if (threads <= 1 || bands <= 1)
        {
            for (int k = 0; k < bands; k++) band(k * bandSize, Math.Min(bandSize, total - k * bandSize));
            return;
        }
        Parallel.For(0, bands, new ParallelOptions { MaxDegreeOfParallelism = threads }, k => band(k * bandSize, Math.Min(bandSize, total - k * bandSize)));
    }

    /// <summary>
    /// target[k·<paramref name="targetStride"/> + j] = source[j·<paramref name="sourceStride"/> + k] for j &lt;
    /// <paramref name="rows"/>, k &lt; <paramref name="cols"/>: a rows × cols block, transposed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(ReadOnlySpan<double> source, int sourceStride, int rows, int cols, Span<double> target, int targetStride)
    {
        // By square tiles, so that the lines a tile reads and writes stay in the cache while it is copied.
        for (int j0 = 0; j0 < rows; j0 += TransposeTile)
        {
            int j1 = Math.Min(j0 + TransposeTile, rows);
            for (int k0 = 0; k0 < cols; k0 += TransposeTile)
            {
                int k1 = Math.Min(k0 + TransposeTile, cols);
                for (int j = j0; j < j1; j++)
                {
                    ReadOnlySpan<double> row = source.Slice(j * sourceStride + k0, k1 - k0);
                    for (int k = 0; k < row.Length; k++) target[(k0 + k) * targetStride + j] = row[k];
                }
            }
        }
    }

    /// <summary>Solves L·x = b in place (L lower triangular, row-major n × n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ForwardSolve(ReadOnlySpan<double> l, int n, Span<double> b)
    {
        for (int i = 0; i < n; i++) b[i] = (b[i] - Dot(l.Slice(i * n, i), b[..i])) / l[i * n + i];
    }

    /// <summary>Solves Lᵀ·x = b in place (L lower triangular, row-major n × n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BackwardSolve(ReadOnlySpan<double> l, int n, Span<double> b)
    {
        for (int i = n - 1; i >= 0; i--)
        {
            b[i] /= l[i * n + i];
            if (b[i] != 0) AddScaled(b[..i], -b[i], l.Slice(i * n, i));
        }
    }

    /// <summary>
    /// Solves L·X = B in place for q right-hand sides (B row-major n × q). Column t of B is zero above row
    /// <paramref name="firstNonzero"/>[t] (ascending in t; null: no such zeros), and the solve skips those zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SolveLowerInPlace(ReadOnlySpan<double> l, int n, Span<double> b, int q, int[]? firstNonzero = null)
    {
        int start = firstNonzero is null || q == 0 ? 0 : firstNonzero[0];
        int active = 0;
        for (int i0 = start; i0 < n; i0 += SolveRowsPerStep)
        {
            int rows = Math.Min(SolveRowsPerStep, n - i0);
            while (active < q && (firstNonzero is null || firstNonzero[active] < i0 + rows)) active++;
            SubtractProduct(b[(i0 * q)..], q, l[(i0 * n + start)..], n, b[(start * q)..], q, rows, active, i0 - start);
            for (int i = i0; i < i0 + rows; i++)
            {
                Span<double> row = b.Slice(i * q, active);
                for (int k = i0; k < i; k++)
                {
                    double factor = l[i * n + k];
                    if (factor != 0) AddScaled(row, -factor, b.Slice(k * q, active));
                }
                double pivot = l[i * n + i];
                for (int t = 0; t < active; t++) row[t] /= pivot;
            }
        }
    }
}
