using Reparo.Data;

namespace Reparo.Tests.Data;

public class TextAndTableTests
{
    private const string WordNetSample = """
          1 This software and database is being provided to you, the LICENSEE, by
          2 Princeton University under the following license.
        01313888 05 n 01 animal 0 002 @ 00004475 n 0000 ~ 01314388 n 0000 | a living organism characterized by voluntary movement
        01317541 05 n 01 domestic_animal 0 001 @ 00015388 n 0000 | any of various animals that have been tamed
        00017222 20 n 01 plant 0 001 @ 00004475 n 0000 | (botany) a living organism lacking the power of locomotion
        03082979 06 n 01 computer 0 001 @ 03699975 n 0000 | a machine for performing calculations automatically
        """;

    [Fact]
    public void WordNetGlossesAreLabelledBySupersense()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllText(dir.File("data.noun"), WordNetSample);
        TextCorpus corpus = TextCorpus.ReadWordNet(dir.File("data.noun"), ["plant", "animal"]);
        Assert.Equal(3, corpus.Texts.Count);
        Assert.Equal("a living organism characterized by voluntary movement", corpus.Texts[0]);
        Assert.Equal([1, 1, 0], corpus.Labels);
        Assert.Equal(["plant", "animal"], corpus.ClassNames);
        Assert.Contains("unknown supersense 'fungus'", Assert.Throws<ReparoInputException>(() => TextCorpus.ReadWordNet(dir.File("data.noun"), ["fungus", "plant"])).Message);
    }

    [Fact]
    public void FortunesAreSplitOnPercentLines()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllText(dir.File("love"), "Love is blind.\n%\nAll you need is love.\nReally.\n%\n");
        File.WriteAllText(dir.File("computers"), "Computers are fast.\n%\nReboot.\n");
        TextCorpus corpus = TextCorpus.ReadFortunes(dir.Path, ["computers", "love"]);
        Assert.Equal(["Computers are fast.", "Reboot.", "Love is blind.", "All you need is love.\nReally."], corpus.Texts.Select(t => t.ReplaceLineEndings("\n")));
        Assert.Equal([0, 0, 1, 1], corpus.Labels);
        Assert.Contains("no topic 'cats'", Assert.Throws<ReparoInputException>(() => TextCorpus.ReadFortunes(dir.Path, ["cats", "love"])).Message);
    }

    [Fact]
    public void AnEmptyOrBinaryFortuneTopicIsRefused()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllText(dir.File("love"), "Love is blind.\n%\n");
        File.WriteAllText(dir.File("empty"), "%\n  \n%\n");
        File.WriteAllBytes(dir.File("index"), [0, 0, 0, 2, 0x25, 0x0a, 0]);
        Assert.Contains("no fortunes", Assert.Throws<ReparoInputException>(() => TextCorpus.ReadFortunes(dir.Path, ["love", "empty"])).Message);
        Assert.Contains("NUL bytes", Assert.Throws<ReparoInputException>(() => TextCorpus.ReadFortunes(dir.Path, ["index", "love"])).Message);
    }

    [Fact]
    public void TokenizerAndVocabularyAreDeterministicAndLeftPad()
    {
        Assert.Equal(["the", "cat's", "toy", "2"], Tokenizer.Tokenize("The cat's toy -- 2!"));
        string[][] docs = [["b", "a", "a"], ["a", "c", "b"], ["d"]];
        Vocabulary v = Vocabulary.Build(docs, minFrequency: 2, maxLength: 4);
        Assert.Equal(["<pad>", "<unk>", "a", "b"], v.Tokens);
        Assert.Equal([0L, 3, 2, 1], v.Encode(["b", "a", "zzz"]));
        Assert.Equal([2L, 2, 2, 2], v.Encode(["a", "a", "a", "a", "b"]));
        Assert.Equal(3, Vocabulary.Length([0, 3, 2, 1]));
    }

    [Fact]
    public void WordNetAnimalPlantIsARealTextTask()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("wordnet:animal,plant");
        Assert.True(splits.Train.Count > 10000);
        Assert.Equal(InputKind.Tokens, splits.Test.Kind);
        Assert.Empty(splits.Train.SourceIndices.Intersect(splits.Test.SourceIndices));
        // Encoding with a given vocabulary (a model's) reproduces the same ids.
        DataSplits again = DataCatalog.Load("wordnet:animal,plant", new DataOptions { Vocabulary = splits.Train.Vocabulary });
        Assert.True(again.Test.X.SameAs(splits.Test.X));
    }

    [Fact]
    public void ACorruptGzipCsvIsAnInputError()
    {
        // Found by reparo fuzz csv: a gzip header naming an unknown compression method raised InvalidDataException.
        using var dir = TestSupport.TempFolder();
        var packed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write("f1,label\n1,a\n2,b\n"u8);
        byte[] bytes = packed.ToArray();
        bytes[2] = 7; // compression method: not deflate
        File.WriteAllBytes(dir.File("t.csv.gz"), bytes);
        string message = Assert.Throws<ReparoInputException>(() => CsvTable.Read(dir.File("t.csv.gz"))).Message;
        Assert.Contains("not a readable gzip file", message);
        Assert.DoesNotContain('\n', message);
    }

    [Fact]
    public void CsvTablesAndDigitsLoad()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllText(dir.File("t.csv"), "f1,f2,label\n1,2,b\n3,4,a\n5,6,b\n7,8,a\n9,10,b\n");
        DataSplits splits = DataCatalog.Load($"csv:{dir.File("t.csv")}", new DataOptions { TestFraction = 0.4, ValidationFraction = 0 });
        Assert.Equal(["a", "b"], splits.Train.ClassNames);
        Assert.Equal(["f1", "f2"], splits.FeatureNames);
        Assert.Equal(["f1", "f2"], DataCatalog.Load($"csv:{dir.File("t.csv")}", new DataOptions { TestFraction = 0.4, ValidationFraction = 0, TestLimit = 1 }).FeatureNames);
        Assert.Equal(3, splits.Train.Count);
        Assert.Equal(2, splits.Test.Count);
        File.WriteAllText(dir.File("quoted.csv"), "\"mean radius\", \"area\" ,\"y\"\n1,2,b\n3,4,a\n");
        Assert.Equal(["mean radius", "area"], CsvTable.Read(dir.File("quoted.csv")).FeatureNames!);
        File.WriteAllText(dir.File("plain.csv"), "1,2,b\n3,4,a\n");
        Assert.Null(CsvTable.Read(dir.File("plain.csv")).FeatureNames);
        File.WriteAllText(dir.File("narrow.csv"), "f1,label\n1,2,b\n3,4,a\n");
        Assert.Null(CsvTable.Read(dir.File("narrow.csv")).FeatureNames);
        File.WriteAllText(dir.File("bad.csv"), "1,2,a\n3,x,b\n");
        Assert.Contains("bad.csv:2", Assert.Throws<ReparoInputException>(() => CsvTable.Read(dir.File("bad.csv"))).Message);
        File.WriteAllText(dir.File("ragged.csv"), "1,2,a\n3,b\n");
        Assert.Contains("2 fields, expected 3", Assert.Throws<ReparoInputException>(() => CsvTable.Read(dir.File("ragged.csv"))).Message);

        // The label where the header names it (Kaggle's MNIST CSV has it first); tabs or semicolons where there is no comma.
        File.WriteAllText(dir.File("first.csv"), "label,p1,p2\n3,0.5,7\n7,1.5,8\n");
        CsvTable first = CsvTable.Read(dir.File("first.csv"));
        Assert.Equal((0, "label"), (first.LabelColumn, first.LabelName));
        Assert.Equal(["p1", "p2"], first.FeatureNames!);
        Assert.Equal([0.5f, 7f], first.Features[0]);
        Assert.Equal(["3", "7"], first.ClassNames);
        Assert.Equal("column 1 of 3 ('label')", DataCatalog.Load($"csv:{dir.File("first.csv")}", new DataOptions { TestFraction = 0.5, ValidationFraction = 0 }).LabelColumn);
        File.WriteAllText(dir.File("two.csv"), "Target,class,x\n1,2,a\n3,4,b\n");
        Assert.Equal(2, CsvTable.Read(dir.File("two.csv")).LabelColumn);
        File.WriteAllText(dir.File("tabs.tsv"), "a\tb\tY\n1\t2\tx\n3\t4\ty\n");
        CsvTable tabs = CsvTable.Read(dir.File("tabs.tsv"));
        Assert.Equal((2, 2), (tabs.Features.Length, tabs.LabelColumn));
        Assert.Equal([3f, 4f], tabs.Features[1]);
        File.WriteAllText(dir.File("semicolons.csv"), "1;2;x\n3;4;y\n");
        Assert.Equal(["x", "y"], CsvTable.Read(dir.File("semicolons.csv")).ClassNames);
        File.WriteAllText(dir.File("missing.csv"), "a,b,label\n1,2,x\n3,NA,y\n");
        Assert.Contains("missing.csv:3: field 2 ('NA') is not a number", Assert.Throws<ReparoInputException>(() => CsvTable.Read(dir.File("missing.csv"))).Message);

        DataSplits digits = DataCatalog.Load("digits");
        Assert.Equal(1797, digits.Train.Count + digits.Validation.Count + digits.Test.Count);
        Assert.Equal([1L, 8, 8], digits.Train.SampleShape);
    }
}
