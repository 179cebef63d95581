using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>
/// Which affine piece of one ReLU or max-pool a batch of samples is on: the one rule that the verifier
/// (<see cref="RepairVerifier"/>), the patterns provable repair keeps (<see cref="ActivationPatterns"/>) and its check
/// whether a polytope slice needs solving all read pieces by. A unit is a ReLU neuron, with the pieces
/// <see cref="On"/> (output = pre-activation) and <see cref="Off"/> (output = 0), or a max-pool window, whose pieces are
/// its elements (flat input indices).
/// <para>
/// With a guard band b, a sample is certainly on a piece when the value that selects it equals each alternative
/// exactly or beats it by more than b. A ReLU is the maximum of its pre-activation z and 0, so it is certainly on when
/// z &gt; b, certainly off when z &lt; −b, on both pieces when z is exactly 0 (both give the same output there; an
/// exact zero is a value the network holds at zero, such as a switched-off ReLU's output feeding another ReLU or a
/// max-pool, or a pre-activation that provable repair pins to 0 where polytopes sharing the vertex disagree, which counts
/// only while the shipped network keeps it at exactly 0), and on neither when 0 &lt; |z| ≤ b: rounding at this
/// precision may have put it on either side. A max-pool window is certainly on its maximal elements (all exactly
/// equal) when the maximum beats every smaller element by more than b, and on none otherwise.
/// </para>
/// <para>
/// A polytope's vertices are on one affine piece of the network when, unit by unit, one piece is certain at every
/// vertex (<see cref="Shared"/>): then each unit's selecting value is at least every alternative at every vertex,
/// so on the whole convex hull, and the unit is affine there.
/// </para>
/// </summary>
internal sealed class ActivationPieces
{
    /// <summary>A ReLU's piece whose output is its pre-activation.</summary>
    public const int On = 0;

    /// <summary>A ReLU's piece whose output is 0.</summary>
    public const int Off = 1;

    private static readonly int[] ReluPieces = [On, Off];

    private readonly double[] values;
    private readonly int width;
    private readonly int[][]? windows;
    private readonly double[] maximum;
    private readonly double[] runnerUp;

    /// <summary>Reads the input of <paramref name="activation"/> for its <paramref name="samples"/> samples (one row each).</summary>
    public ActivationPieces(Activation activation, int samples)
    {
        values = activation.Input.reshape(samples, -1).to(ScalarType.Float64).contiguous().data<double>().ToArray();
        width = values.Length / samples;
        windows = activation.Windows;
        Units = windows?.Length ?? width;
        maximum = new double[windows is null ? 0 : samples * Units];
        runnerUp = new double[maximum.Length];
        if (windows is null) return;
        for (int s = 0; s < samples; s++)
        {
            for (int o = 0; o < Units; o++)
            {
                double best = double.NegativeInfinity, below = double.NegativeInfinity;
                foreach (int index in windows[o])
                {
                    double x = values[s * width + index];
                    if (x > best)
                    {
                        below = best;
                        best = x;
                    }
                    else if (x < best && x > below)
                    {
                        below = x;
                    }
                }
                maximum[s * Units + o] = best;
                runnerUp[s * Units + o] = below;
            }
        }
    }

    /// <summary>Number of units: ReLU neurons or max-pool windows.</summary>
    public int Units { get; }

    /// <summary>The pieces of <paramref name="unit"/>: <see cref="On"/> and <see cref="Off"/> for a ReLU neuron, the window's flat input indices for a max-pool.</summary>
    public IReadOnlyList<int> Pieces(int unit) => windows?[unit] ?? ReluPieces;

    /// <summary>The piece <paramref name="sample"/> is on, ties broken one way: a ReLU is on when its pre-activation is positive, a max-pool takes its window's first maximum.</summary>
    public int Piece(int sample, int unit)
    {
        if (windows is null) return values[sample * width + unit] > 0 ? On : Off;
        return windows[unit].First(index => values[sample * width + index] == maximum[sample * Units + unit]);
    }

    /// <summary>Whether <paramref name="sample"/> is certainly on <paramref name="piece"/> of <paramref name="unit"/> with guard band <paramref name="band"/>.</summary>
    public bool Certain(int sample, int unit, int piece, double band)
    {
        if (windows is null)
        {
            double z = values[sample * width + unit];
            return piece == On ? AtLeast(z, 0, band) : AtLeast(0, z, band);
        }
        int at = sample * Units + unit;
        return values[sample * width + piece] == maximum[at] && AtLeast(maximum[at], runnerUp[at], band);
    }

    /// <summary>Whether every unit has a piece that all of <paramref name="samples"/> are certainly on, with guard band <paramref name="band"/>.</summary>
    public bool Shared(IReadOnlyList<int> samples, double band) =>
        Enumerable.Range(0, Units).All(unit => Pieces(unit).Any(piece => samples.All(s => Certain(s, unit, piece, band))));

    /// <summary>Whether <paramref name="a"/> is certainly at least <paramref name="b"/>: equal, or ahead by more than <paramref name="band"/> (−∞ for "no alternative" counts as beaten).</summary>
    private static bool AtLeast(double a, double b, double band) => a == b || a - b > band;
}
