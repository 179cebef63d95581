using System.Globalization;
using System.IO.Compression;

namespace Reparo.Data;

/// <summary>A numeric table read from CSV: feature rows and an integer label column.</summary>
/// <param name="Features">One row of features per sample.</param>
/// <param name="Labels">Class index per sample (the label column's distinct values, sorted, become 0..C-1).</param>
/// <param name="ClassNames">The label column's distinct values, indexed by class.</param>
/// <param name="FeatureNames">The header's names of the feature columns, or null without a header (or with one of another width).</param>
/// <param name="LabelColumn">The label column's 0-based position among the fields.</param>
/// <param name="LabelName">The header's name of the label column, or null without a header.</param>
public sealed record CsvTable(float[][] Features, int[] Labels, string[] ClassNames, string[]? FeatureNames, int LabelColumn, string? LabelName)
{
    /// <summary>Each row's line number in the file (1-based; the header and blank lines count).</summary>
    public int[] LineNumbers { get; init; } = [];

    /// <summary>Header names that mark the label column wherever it stands (compared without case).</summary>
    public static readonly IReadOnlyList<string> LabelNames = ["label", "target", "class", "y"];

    /// <summary>
    /// Reads a CSV file (plain or gzip). Fields are separated by commas, or by tabs or semicolons when the first line
    /// has no comma but one of those. The label is the column the header
    /// names <c>label</c>, <c>target</c>, <c>class</c> or <c>y</c> (one such column; Kaggle's MNIST CSVs put it first),
    /// else the last; its values may be numbers or names. A first line with two or more fields that are not numbers is the
    /// header. Every other field must be a finite number, and every row as wide as the first.
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
        var lineNumbers = new List<int>();
        int width = -1, lineNumber = 0, labelColumn = -1;
        char separator = ',';
        string[]? header = null;
        string? line;
        while ((line = ReadLine(reader, path, gzip)) is not null)
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            if (width < 0 && header is null) separator = Separator(line);
            string[] fields = line.Split(separator);
            if (width < 0 && header is null && fields.Count(f => !Numeric(f)) >= 2)
            {
                header = fields;
                continue;
            }
            if (width < 0)
            {
                width = fields.Length;
                if (width < 2) throw new ReparoInputException($"{path}:{lineNumber}: one field; expected features and a label separated by '{separator}'");
                labelColumn = LabelColumnOf(header, width);
            }
            else if (fields.Length != width) throw new ReparoInputException($"{path}:{lineNumber}: {fields.Length} fields, expected {width}");
            var values = new float[width - 1];
            for (int i = 0, v = 0; i < width; i++)
            {
                if (i == labelColumn) continue;
                if (!float.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[v]))
                    throw new ReparoInputException($"{path}:{lineNumber}: field {i + 1} ('{Shorten(fields[i])}') is not a number");
                if (!float.IsFinite(values[v])) throw new ReparoInputException($"{path}:{lineNumber}: field {i + 1} ('{Shorten(fields[i])}') is non-finite");
                v++;
            }
            rows.Add(values);
            labelText.Add(fields[labelColumn].Trim());
            lineNumbers.Add(lineNumber);
        }
        if (rows.Count == 0) throw new ReparoInputException($"{path}: no data rows");
        string[] classes = labelText.Distinct().OrderBy(s => double.TryParse(s, CultureInfo.InvariantCulture, out double v) ? v : double.MaxValue)
            .ThenBy(s => s, StringComparer.Ordinal).ToArray();
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        string[]? names = header?.Length == width ? [.. header.Where((_, i) => i != labelColumn).Select(Unquote)] : null;
        return new CsvTable(rows.ToArray(), labelText.Select(l => index[l]).ToArray(), classes, names, labelColumn, header?.Length == width ? Unquote(header[labelColumn]) : null)
        {
            LineNumbers = [.. lineNumbers],
        };
    }

    /// <summary>
    /// The same table with its labels mapped onto <paramref name="classes"/> (a model's, indexed by output): a label is one
    /// of those names, else a class index; anything else is a one-line error naming <paramref name="path"/>.
    /// </summary>
    public CsvTable OnClasses(IReadOnlyList<string> classes, string path)
    {
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < classes.Count; c++) byName.TryAdd(classes[c], c);
        int[] mapped = new int[ClassNames.Length];
        for (int k = 0; k < ClassNames.Length; k++)
        {
            string text = ClassNames[k];
            if (byName.TryGetValue(text, out mapped[k])) continue;
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int index) && index >= 0 && index < classes.Count) mapped[k] = index;
            else throw new ReparoInputException($"{path}: label '{Shorten(text)}' is neither a class of the model ({string.Join(", ", classes)}) nor a class index");
        }
        return this with { Labels = [.. Labels.Select(label => mapped[label])], ClassNames = [.. classes] };
    }

    /// <summary>The field separator a first line uses: a comma, else a tab or a semicolon when it has one.</summary>
    private static char Separator(string line) => line.Contains(',') ? ',' : line.Contains('\t') ? '\t' : line.Contains(';') ? ';' : ',';

    /// <summary>The label column: the one header column named as in <see cref="LabelNames"/>, else the last.</summary>
    private static int LabelColumnOf(string[]? header, int width)
    {
        if (header?.Length != width) return width - 1;
        int[] named = [.. Enumerable.Range(0, width).Where(i => LabelNames.Contains(Unquote(header[i]), StringComparer.OrdinalIgnoreCase))];
        return named.Length == 1 ? named[0] : width - 1;
    }

    private static bool Numeric(string field) => double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static string Unquote(string field) => field.Trim().Trim('"').Trim();

    private static string Shorten(string field) => field.Length <= 20 ? field : field[..20] + "…";

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
