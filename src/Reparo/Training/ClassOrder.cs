namespace Reparo.Training;

/// <summary>
/// Whether data's labels look like a model's classes in another order: the one-to-one relabelling of the data's classes
/// that a confusion matrix favours most (an assignment problem, solved exactly by the Hungarian method).
/// </summary>
public static class ClassOrder
{
    /// <summary>How much accuracy (absolute) a relabelling must add before <see cref="Hint"/> names it.</summary>
    public const double MinGain = 0.25;

    /// <summary>Above this many classes no relabelling is sought (the method is cubic in the class count).</summary>
    public const int MaxClasses = 200;

    /// <summary>
    /// The relabelling r that maximises Σ_c confusion[c][r[c]]: data class c read as the model's class r[c], each model
    /// class used once. <paramref name="confusion"/> is square (rows: labels, columns: predictions).
    /// </summary>
    public static int[] BestRelabelling(int[][] confusion)
    {
        int n = confusion.Length;
        if (confusion.Any(row => row.Length != n)) throw new ArgumentException("the confusion matrix must be square", nameof(confusion));
        // Minimum-cost assignment of rows to columns with cost −confusion, with row and column potentials (1-based).
        var u = new long[n + 1];
        var v = new long[n + 1];
        var match = new int[n + 1];
        var way = new int[n + 1];
        for (int row = 1; row <= n; row++)
        {
            match[0] = row;
            int column = 0;
            var least = Enumerable.Repeat(long.MaxValue, n + 1).ToArray();
            var used = new bool[n + 1];
            do
            {
                used[column] = true;
                int r = match[column], next = 0;
                long delta = long.MaxValue;
                for (int j = 1; j <= n; j++)
                {
                    if (used[j]) continue;
                    long reduced = -(long)confusion[r - 1][j - 1] - u[r] - v[j];
                    if (reduced < least[j]) (least[j], way[j]) = (reduced, column);
                    if (least[j] < delta) (delta, next) = (least[j], j);
                }
                for (int j = 0; j <= n; j++)
                {
                    if (used[j]) (u[match[j]], v[j]) = (u[match[j]] + delta, v[j] - delta);
                    else least[j] -= delta;
                }
                column = next;
            }
            while (match[column] != 0);
            do
            {
                int previous = way[column];
                match[column] = match[previous];
                column = previous;
            }
            while (column != 0);
        }
        var relabelling = new int[n];
        for (int j = 1; j <= n; j++) relabelling[match[j] - 1] = j - 1;
        return relabelling;
    }

    /// <summary>
    /// One line when reading the data's classes in another order would raise the accuracy by at least
    /// <see cref="MinGain"/>: which classes would be read as which, the accuracy then, and how to tell Reparo the model's
    /// order; null otherwise (or with more than <see cref="MaxClasses"/> classes, or no samples).
    /// </summary>
    /// <param name="confusion">Rows: the data's labels; columns: the model's predictions.</param>
    /// <param name="labelNames">The data's own names of its classes (a table's label values, say).</param>
    /// <param name="outputNames">The model's names of its outputs.</param>
    public static string? Hint(int[][] confusion, IReadOnlyList<string> labelNames, IReadOnlyList<string> outputNames)
    {
        int n = confusion.Length;
        long total = confusion.Sum(row => row.Sum(c => (long)c));
        if (n < 2 || n > MaxClasses || total == 0) return null;
        int[] best = BestRelabelling(confusion);
        double accuracy = Enumerable.Range(0, n).Sum(c => (long)confusion[c][c]) / (double)total;
        double relabelled = Enumerable.Range(0, n).Sum(c => (long)confusion[c][best[c]]) / (double)total;
        if (relabelled < accuracy + MinGain) return null;
        int[] moved = [.. Enumerable.Range(0, n).Where(c => best[c] != c)];
        string pairs = string.Join(", ", moved.Take(6).Select(c => $"{labelNames[c]} as the model's {outputNames[best[c]]}")) + (moved.Length > 6 ? $" and {moved.Length - 6} more" : "");
        return FormattableString.Invariant($"the labels look like the model's classes in another order: reading {pairs} would give {relabelled:P2} instead of {accuracy:P2}; if the model's outputs follow another order than the data's classes, name them in output order with --class-names");
    }
}
