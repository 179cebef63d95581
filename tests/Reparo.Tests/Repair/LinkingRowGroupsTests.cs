using Reparo.Repair.Provable;

namespace Reparo.Tests.Repair;

public class LinkingRowGroupsTests
{
    /// <summary>
    /// Narrow coupling columns of four blocks over 23 linking rows: supports that overlap merge into groups (rows 3–5
    /// and 5–7 are one group), a group occurs more than once in a block, some rows meet no column. The sum into S is
    /// Σ_k Σ_{t,u} Y_k[t, u]·z_t·z_uᵀ by its definition, and the same to the bit on one thread and on three.
    /// </summary>
    [Fact]
    public void GroupSumsEqualTheDefinitionOnAnyThreadCount()
    {
        const int linking = 23, blocks = 4;
        var rng = new Random(7);
        int[][] supports = [[0, 1, 2], [3, 4, 5], [5, 6, 7], [9, 10], [11], [12, 13, 14, 15], [18, 20], [21, 22]];
        var narrow = new List<GroupedColumn>();
        var widths = new int[blocks];
        for (int k = 0; k < blocks; k++)
            for (int s = 0; s < supports.Length; s++)
            {
                if ((k + s) % 3 == 0) continue;
                int copies = s == 1 && k == 2 ? 2 : 1;
                for (int copy = 0; copy < copies; copy++)
                    narrow.Add(new GroupedColumn(k, widths[k]++, supports[s], [.. supports[s].Select(_ => rng.NextDouble() - 0.5)]));
            }
        double[][] gram = [.. widths.Select(w => new double[w * w])];
        for (int k = 0; k < blocks; k++)
            for (int t = 0; t < widths[k]; t++)
                for (int u = 0; u <= t; u++) gram[k][t * widths[k] + u] = gram[k][u * widths[k] + t] = rng.NextDouble() - 0.5;
        double Weight(int k, int t) => 0.5 + (k * 7 + t) % 5;
        var expected = new double[linking * linking];
        foreach (GroupedColumn c1 in narrow)
            foreach (GroupedColumn c2 in narrow.Where(c => c.Block == c1.Block))
                for (int a = 0; a < c1.Rows.Length; a++)
                    for (int b = 0; b < c2.Rows.Length; b++)
                        expected[c1.Rows[a] * linking + c2.Rows[b]] += gram[c1.Block][c1.Position * widths[c1.Block] + c2.Position]
                            * Weight(c1.Block, c1.Position) * c1.Values[a] * Weight(c2.Block, c2.Position) * c2.Values[b];
        var groups = new LinkingRowGroups(linking, narrow);
        var one = new double[linking * linking];
        var three = new double[linking * linking];

        groups.AddTo(one, linking, Weight, gram, widths, threads: 1);
        groups.AddTo(three, linking, Weight, gram, widths, threads: 3);

        for (int i = 0; i < linking; i++)
            for (int j = 0; j <= i; j++)
            {
                Assert.Equal(expected[i * linking + j], one[i * linking + j], 1e-12);
                Assert.Equal(BitConverter.DoubleToInt64Bits(one[i * linking + j]), BitConverter.DoubleToInt64Bits(three[i * linking + j]));
            }
        Assert.Contains(one, v => v != 0);
    }

    /// <summary>
    /// Twenty points of four linking rows each: two blocks with a column per point (each meets its point's rows), a block
    /// whose columns meet every row (it would merge all groups into one; cheap alone, as the later layers' biases are
    /// through their own rows), a narrow block that is always taken (rows 0 and 1), and a block whose column meets rows
    /// of the first two points (it merges two groups).
    /// </summary>
    [Fact]
    public void BlocksJoinTheGroupedSumOnlyWhenTheyAddLessToItThanTheyCostAlone()
    {
        const int points = 20, perPoint = 4, linking = points * perPoint;
        int[] Rows(int p) => [.. Enumerable.Range(p * perPoint, perPoint)];
        double[] Ones(int n) => [.. Enumerable.Repeat(1.0, n)];
        var columns = new List<GroupedColumn>();
        for (int k = 0; k < 2; k++)
            for (int p = 0; p < points; p++) columns.Add(new GroupedColumn(k, p, Rows(p), Ones(perPoint)));
        for (int t = 0; t < 3; t++) columns.Add(new GroupedColumn(2, t, [.. Enumerable.Range(0, linking)], Ones(linking)));
        columns.Add(new GroupedColumn(3, 0, [0, 1], Ones(2)));
        columns.Add(new GroupedColumn(4, 0, [3, 4], Ones(2)));
        bool[] always = [false, false, false, true, false];
        double[] alone = [4800, 4800, 1000, 4, 4];

        bool[] selected = LinkingRowGroups.SelectBlocks(linking, columns, always, alone);
        bool[] whenBlock4CostsMore = LinkingRowGroups.SelectBlocks(linking, columns, always, [.. alone.Select((a, k) => k == 4 ? 300.0 : a)]);

        // Products cost rows × columns × 80 ÷ 10 per group. Blocks 0 and 1 (dearest alone first) add 20 columns of 4
        // rows each: 640 < 4,800. Block 2 would make one group of 80 rows and 44 columns, 3,356 more (26,848 > 1,000).
        // Block 4 merges point 0's group (4 rows, 3 columns) with point 1's (4 rows, 2): 8 × 6 − 20 = 28 more, 224:
        // above 4, below 300.
        Assert.Equal([true, true, false, true, false], selected);
        Assert.Equal([true, true, false, true, true], whenBlock4CostsMore);
    }
}
