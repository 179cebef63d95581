namespace Reparo.Data;

/// <summary>
/// The values <c>new Random(seed).NextDouble()</c> returns, in the same order, bit for bit: Knuth's subtractive
/// generator with the seeding .NET keeps unchanged for seeded instances (a test holds it to <see cref="Random"/>).
/// It writes draws in bulk, without <see cref="Random"/>'s layers of calls per value: the plasma fractal takes 65,535
/// draws per image.
/// </summary>
internal sealed class SeededDraws
{
    private const int Modulus = int.MaxValue;
    private const int SeedBase = 161803398;

    private readonly int[] state = new int[56];
    private int next, nextPaired = 21;

    /// <summary>Starts the sequence of <c>new Random(<paramref name="seed"/>)</c>.</summary>
    public SeededDraws(int seed)
    {
        int subtraction = seed == int.MinValue ? int.MaxValue : Math.Abs(seed);
        int mj = SeedBase - subtraction, mk = 1, ii = 0;
        state[55] = mj;
        for (int i = 1; i < 55; i++)
        {
            ii += 21;
            if (ii >= 55) ii -= 55;
            state[ii] = mk;
            mk = mj - mk;
            if (mk < 0) mk += Modulus;
            mj = state[ii];
        }
        for (int pass = 1; pass < 5; pass++)
        {
            for (int i = 1; i < 56; i++)
            {
                int j = i + 30;
                if (j >= 55) j -= 55;
                state[i] -= state[1 + j];
                if (state[i] < 0) state[i] += Modulus;
            }
        }
    }

    /// <summary>Writes the next <c>values.Length</c> draws, each as <see cref="Random.NextDouble"/> returns it, in [0, 1).</summary>
    public void Fill(Span<double> values)
    {
        // The two positions live in locals for the loop: through the fields, each draw would wait on the last one's stores.
        int first = next, second = nextPaired;
        int[] s = state;
        for (int k = 0; k < values.Length; k++)
        {
            if (++first >= 56) first = 1;
            if (++second >= 56) second = 1;
            int value = s[first] - s[second];
            if (value == Modulus) value--;
            if (value < 0) value += Modulus;
            s[first] = value;
            values[k] = value * (1.0 / Modulus);
        }
        (next, nextPaired) = (first, second);
    }
}
