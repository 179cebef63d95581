namespace Reparo.Data;

/// <summary>Labelled raw texts, before tokenising.</summary>
/// <param name="Name">Source name, such as <c>wordnet:animal,plant</c>.</param>
/// <param name="Texts">One document per sample.</param>
/// <param name="Labels">Class index per document.</param>
/// <param name="ClassNames">Class names, indexed by label.</param>
public sealed record TextCorpus(string Name, IReadOnlyList<string> Texts, IReadOnlyList<int> Labels, IReadOnlyList<string> ClassNames)
{
    /// <summary>Where each document came from (<c>FILE:LINE</c> for a TSV file), or null when the source names none.</summary>
    public IReadOnlyList<string>? SourceNames { get; init; }

    /// <summary>WordNet's lexicographer files for nouns, by number (the second field of a <c>data.noun</c> line).</summary>
    public static readonly IReadOnlyDictionary<int, string> NounSupersenses = new Dictionary<int, string>
    {
        [3] = "Tops",
        [4] = "act",
        [5] = "animal",
        [6] = "artifact",
        [7] = "attribute",
        [8] = "body",
        [9] = "cognition",
        [10] = "communication",
        [11] = "event",
        [12] = "feeling",
        [13] = "food",
        [14] = "group",
        [15] = "location",
        [16] = "motive",
        [17] = "object",
        [18] = "person",
        [19] = "phenomenon",
        [20] = "plant",
        [21] = "possession",
        [22] = "process",
        [23] = "quantity",
        [24] = "relation",
        [25] = "shape",
        [26] = "state",
        [27] = "substance",
        [28] = "time",
    };

    /// <summary>
    /// Reads WordNet noun synsets of the given supersenses from <c>data.noun</c>: the text is the gloss (after <c>|</c>),
    /// the label the position of the synset's supersense in <paramref name="classes"/>.
    /// </summary>
    public static TextCorpus ReadWordNet(string dataNounPath, IReadOnlyList<string> classes)
    {
        var byName = NounSupersenses.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.OrdinalIgnoreCase);
        var wanted = new Dictionary<int, int>();
        for (int c = 0; c < classes.Count; c++)
        {
            if (!byName.TryGetValue(classes[c], out int lexFile))
                throw new ReparoInputException($"wordnet: unknown supersense '{classes[c]}'; choose from {string.Join(", ", NounSupersenses.Values)}");
            if (!wanted.TryAdd(lexFile, c)) throw new ReparoInputException($"wordnet: supersense '{classes[c]}' named twice");
        }
        var texts = new List<string>();
        var labels = new List<int>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(dataNounPath))
        {
            lineNumber++;
            if (line.StartsWith("  ", StringComparison.Ordinal) || line.Length == 0) continue; // licence header
            string[] fields = line.Split(' ', 3);
            int bar = line.IndexOf('|');
            if (fields.Length < 3 || bar < 0 || !int.TryParse(fields[1], out int lexFile))
                throw new ReparoInputException($"{dataNounPath}:{lineNumber}: not a WordNet data line");
            if (!wanted.TryGetValue(lexFile, out int label)) continue;
            texts.Add(line[(bar + 1)..].Trim());
            labels.Add(label);
        }
        if (texts.Count == 0) throw new ReparoInputException($"{dataNounPath}: no synsets of {string.Join(",", classes)}");
        return new TextCorpus($"wordnet:{string.Join(",", classes)}", texts, labels, classes.ToArray());
    }

    /// <summary>Reads fortune files (one topic per file, entries separated by lines holding only <c>%</c>); the label is the topic.</summary>
    public static TextCorpus ReadFortunes(string folder, IReadOnlyList<string> topics)
    {
        var texts = new List<string>();
        var labels = new List<int>();
        for (int c = 0; c < topics.Count; c++)
        {
            string path = Path.Combine(folder, topics[c]);
            if (topics[c].Contains('/') || !File.Exists(path))
            {
                string known = string.Join(", ", Directory.EnumerateFiles(folder).Select(Path.GetFileName)
                    .Where(f => f is not null && !f.Contains('.')).Order(StringComparer.Ordinal));
                throw new ReparoInputException($"fortunes: no topic '{topics[c]}' in {folder}; choose from {known}");
            }
            var entry = new System.Text.StringBuilder();
            int before = texts.Count;
            foreach (string line in File.ReadLines(path))
            {
                if (line.Contains('\0')) throw new ReparoInputException($"{path}: not a fortune file (it holds NUL bytes; the topic is the text file, not its .dat index)");
                if (line.Trim() == "%")
                {
                    Flush();
                    continue;
                }
                entry.AppendLine(line);
            }
            Flush();
            if (texts.Count == before) throw new ReparoInputException($"{path}: no fortunes (entries are separated by lines holding only %)");

            void Flush()
            {
                string text = entry.ToString().Trim();
                if (text.Length > 0)
                {
                    texts.Add(text);
                    labels.Add(c);
                }
                entry.Clear();
            }
        }
        return new TextCorpus($"fortunes:{string.Join(",", topics)}", texts, labels, topics.ToArray());
    }

    /// <summary>
    /// Reads labelled text, one sample per line as <c>LABEL&lt;TAB&gt;TEXT</c> (blank lines skipped). The classes are the
    /// distinct labels in ordinal order, or <paramref name="classNames"/> (a model's) when given.
    /// </summary>
    public static TextCorpus ReadTsv(string path, IReadOnlyList<string>? classNames = null)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: file not found");
        var texts = new List<string>();
        var labelText = new List<string>();
        var sources = new List<string>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Trim().Length == 0) continue;
            int tab = line.IndexOf('\t');
            if (tab <= 0 || line[..tab].Trim().Length == 0) throw new ReparoInputException($"{path}:{lineNumber}: expected LABEL<TAB>TEXT");
            labelText.Add(line[..tab].Trim());
            texts.Add(line[(tab + 1)..]);
            sources.Add(FormattableString.Invariant($"{Path.GetFileName(path)}:{lineNumber}"));
        }
        if (texts.Count == 0) throw new ReparoInputException($"{path}: no LABEL<TAB>TEXT lines");
        IReadOnlyList<string> classes = classNames ?? labelText.Distinct().Order(StringComparer.Ordinal).ToArray();
        if (classes.Count < 2) throw new ReparoInputException($"{path}: needs at least two labels, found {classes.Count}");
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var labels = new int[labelText.Count];
        for (int i = 0; i < labels.Length; i++)
        {
            if (!index.TryGetValue(labelText[i], out labels[i]))
                throw new ReparoInputException($"{path}: label '{labelText[i]}' is not one of the model's classes ({string.Join(", ", classes)})");
        }
        return new TextCorpus($"tsv:{Path.GetFileName(path)}", texts, labels, classes) { SourceNames = sources };
    }
}
