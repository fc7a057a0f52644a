using System.IO.Compression;
using System.Text;
using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Tests.Accuracy;

namespace Recs.Tests.Integration;

/// <summary>
/// Random mutations of real input (the first lines of the Online Retail export, and a Personalize interactions file
/// made from them): every import either succeeds with a report whose rows add up, or fails with an
/// <see cref="InputFileException"/> and leaves the database exactly as it was. Never another exception, never a
/// partial import. Seeded, so a failure reproduces.
/// </summary>
public sealed class ImporterFuzzTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>, IDisposable
{
    private const int Cases = 40;
    private readonly TempFolder _files = new();

    public void Dispose() => _files.Dispose();

    private static byte[] RetailSample()
    {
        using var gzip = new GZipStream(File.OpenRead(OnlineRetailAccuracyTests.DatasetPath), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        var text = new StringBuilder();
        for (var k = 0; k < 1500 && reader.ReadLine() is { } line; k++)
            text.Append(line).Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static byte[] PersonalizeSample()
    {
        var text = new StringBuilder("USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP\n");
        var rng = new SeededRandom(11);
        for (var k = 0; k < 1500; k++)
            text.Append($"u{(int)(rng.NextDouble() * 200)},i{(int)(rng.NextDouble() * 60)},{(k % 3 == 0 ? "view" : "purchase")},{k % 5},{1_700_000_000 + k * 60}\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>One to three of: flip bytes, cut the file anywhere, duplicate or drop a line, swap a delimiter, insert quotes, NULs or invalid UTF-8.</summary>
    private static byte[] Mutate(byte[] input, SeededRandom rng)
    {
        var bytes = new List<byte>(input);
        var mutations = 1 + (int)(rng.NextDouble() * 3);
        for (var m = 0; m < mutations && bytes.Count > 2; m++)
        {
            var at = (int)(rng.NextDouble() * bytes.Count);
            switch ((int)(rng.NextDouble() * 8))
            {
                case 0: bytes[at] = (byte)(rng.NextDouble() * 256); break;
                case 1: bytes.RemoveRange(at, bytes.Count - at); break;
                case 2: bytes.InsertRange(at, Encoding.UTF8.GetBytes("\"")); break;
                case 3: bytes.InsertRange(at, new byte[] { 0xC3, 0x28 }); break;
                case 4: bytes[at] = bytes[at] == ',' ? (byte)';' : (byte)','; break;
                case 5: bytes.Insert(at, 0); break;
                case 6:
                {
                    var start = bytes.LastIndexOf((byte)'\n', Math.Max(0, at - 1)) + 1;
                    var end = bytes.IndexOf((byte)'\n', at);
                    if (end > start) bytes.InsertRange(start, bytes.GetRange(start, end - start + 1));
                    break;
                }
                default:
                {
                    var end = bytes.IndexOf((byte)'\n', at);
                    if (end > at) bytes.RemoveRange(at, end - at);
                    break;
                }
            }
        }
        return bytes.ToArray();
    }

    [Theory]
    [InlineData("online-retail", 101)]
    [InlineData("personalize", 202)]
    public async Task Mutated_files_import_completely_or_not_at_all(string kind, int seed)
    {
        var sample = kind == "online-retail" ? RetailSample() : PersonalizeSample();
        var items = _files.Write("items.csv", "ITEM_ID,PRODUCT_NAME\n" + string.Concat(Enumerable.Range(0, 60).Select(i => $"i{i},Item {i}\n")));
        var rng = new SeededRandom((ulong)seed);
        int succeeded = 0, refused = 0;
        for (var c = 0; c < Cases; c++)
        {
            var path = _files.WriteBytes($"{kind}-{c}.csv", Mutate(sample, rng));
            var before = await DatabaseSnapshot.TakeAsync(db.DataSource);
            try
            {
                var report = kind == "online-retail"
                    ? await OnlineRetailImporter.ImportAsync(db.DataSource, path)
                    : await PersonalizeImporter.ImportAsync(db.DataSource, new PersonalizeFiles(path, items));
                foreach (var file in report.Files)
                    Assert.True(file.RowsRead == file.RowsImported + file.RowsSkipped, $"case {c}: {file.RowsRead} read ≠ {file.RowsImported} + {file.RowsSkipped}");
                succeeded++;
            }
            catch (InputFileException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                Assert.Equal(before, await DatabaseSnapshot.TakeAsync(db.DataSource));
                refused++;
            }
        }
        // The mutations are strong enough to break most files, and mild enough to leave some importable.
        Assert.True(refused > 0 && succeeded > 0, $"{succeeded} imported, {refused} refused");
    }
}
