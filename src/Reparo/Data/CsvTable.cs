using System.Globalization;
using System.IO.Compression;

namespace Reparo.Data;

/// <summary>A numeric table read from CSV: feature rows and an integer label column.</summary>
/// <param name="Features">One row of features per sample.</param>
/// <param name="Labels">Class index per sample (the label column's distinct values, sorted, become 0..C-1).</param>
/// <param name="ClassNames">The label column's distinct values, indexed by class.</param>
/// <param name="FeatureNames">The header's names of the feature columns, or null without a header (or with one of another width).</param>
public sealed record CsvTable(float[][] Features, int[] Labels, string[] ClassNames, string[]? FeatureNames)
{
    /// <summary>
    /// Reads a CSV file (plain or gzip) whose last column is the label; a first line that is not numeric is taken as a
    /// header. Every row must have the same number of numeric fields.
    /// </summary>
    public static CsvTable Read(string path)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: file not found");
        using Stream raw = File.OpenRead(path);
        bool gzip = raw.ReadByte() == 0x1f && raw.ReadByte() == 0x8b;
        raw.Position = 0;
        using var reader = new StreamReader(gzip ? new GZipStream(raw, CompressionMode.Decompress) : raw);
        var rows = new List<float[]>();
        var labelText = new List<string>();
        int width = -1, lineNumber = 0;
        string[]? header = null;
        string? line;
        while ((line = ReadLine(reader, path, gzip)) is not null)
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            string[] fields = line.Split(',');
            var values = new float[fields.Length - 1];
            bool numeric = fields.Length >= 2;
            for (int i = 0; numeric && i < values.Length; i++)
                numeric = float.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) && float.IsFinite(values[i]);
            if (!numeric)
            {
                if (rows.Count == 0 && lineNumber == 1)
                {
                    header = fields;
                    continue;
                }
                throw new ReparoInputException($"{path}:{lineNumber}: a non-numeric or non-finite feature value");
            }
            if (width < 0) width = fields.Length;
            else if (fields.Length != width) throw new ReparoInputException($"{path}:{lineNumber}: {fields.Length} fields, expected {width}");
            rows.Add(values);
            labelText.Add(fields[^1].Trim());
        }
        if (rows.Count == 0) throw new ReparoInputException($"{path}: no data rows");
        string[] classes = labelText.Distinct().OrderBy(s => double.TryParse(s, CultureInfo.InvariantCulture, out double v) ? v : double.MaxValue)
            .ThenBy(s => s, StringComparer.Ordinal).ToArray();
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        string[]? names = header?.Length == width ? [.. header[..^1].Select(h => h.Trim().Trim('"').Trim())] : null;
        return new CsvTable(rows.ToArray(), labelText.Select(l => index[l]).ToArray(), classes, names);
    }

    /// <summary>The next line; a corrupt gzip stream is the user's input error.</summary>
    private static string? ReadLine(StreamReader reader, string path, bool gzip)
    {
        try
        {
            return reader.ReadLine();
        }
        catch (InvalidDataException e) when (gzip)
        {
            throw new ReparoInputException($"{path}: not a readable gzip file ({e.Message.Split('\n')[0]})");
        }
    }
}
