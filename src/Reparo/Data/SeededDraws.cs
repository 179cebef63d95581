using System.Buffers;
using System.Numerics;

namespace Reparo.Data;

/// <summary>
/// The values <c>new Random(seed).NextDouble()</c> returns, in the same order, bit for bit: Knuth's subtractive
/// generator with the seeding .NET keeps unchanged for seeded instances (a test holds it to <see cref="Random"/>).
/// It writes draws in bulk, a vector of them at a time, without <see cref="Random"/>'s layers of calls per value: the
/// plasma fractal takes 65,535 draws per image.
/// </summary>
internal sealed class SeededDraws
{
    private const int Modulus = int.MaxValue;
    private const int SeedBase = 161803398;

    /// <summary>Values in the generator's state.</summary>
    private const int StateLength = 55;

    /// <summary>Distance from a draw's older operand to its younger one in the sequence (the state positions 21 apart).</summary>
    private const int Lag = 21;

    /// <summary>Positions 1 … 55 hold the state, as in <see cref="Random"/>.</summary>
    private readonly int[] state = new int[56];

    /// <summary>The position written last (0 before the first draw); the next draw writes the one after it, wrapping from 55 to 1.</summary>
    private int next;

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
    /// <remarks>
    /// With the state laid out oldest first as x[0..54], draw k is x[55 + k] = x[k] − x[k + 21] (brought into range as
    /// <see cref="Random"/> does), so the 34 draws after any point depend only on values already known: they are
    /// computed a vector at a time. Each lane does the scalar generator's integer steps, and the conversion to double
    /// is the same exact product, so the values are the same to the bit.
    /// </remarks>
    public void Fill(Span<double> values)
    {
        int count = values.Length;
        if (count == 0) return;
        int[] x = ArrayPool<int>.Shared.Rent(StateLength + count);
        try
        {
            for (int i = 0; i < StateLength; i++) x[i] = state[(next + i) % StateLength + 1];
            // A vector's lanes may not read what the same vector writes: at most 55 − 21 lanes (16 with 512-bit vectors).
            var modulus = new Vector<int>(Modulus);
            int width = Vector<int>.Count, k = 0;
            for (; k + width <= count; k += width)
            {
                Vector<int> value = new Vector<int>(x, k) - new Vector<int>(x, k + Lag);
                value += Vector.Equals(value, modulus);
                value += Vector.LessThan(value, Vector<int>.Zero) & modulus;
                value.CopyTo(x, StateLength + k);
            }
            for (; k < count; k++)
            {
                int value = x[k] - x[k + Lag];
                if (value == Modulus) value--;
                if (value < 0) value += Modulus;
                x[StateLength + k] = value;
            }
            for (k = 0; k < count; k++) values[k] = x[StateLength + k] * (1.0 / Modulus);
            next = (next + count) % StateLength;
            for (int i = 0; i < StateLength; i++) state[(next + i) % StateLength + 1] = x[count + i];
        }
        finally
        {
            ArrayPool<int>.Shared.Return(x);
        }
    }
}
