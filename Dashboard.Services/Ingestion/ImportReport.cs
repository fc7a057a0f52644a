using System.Diagnostics;

namespace Recs.Services.Ingestion;

/// <summary>Rows of one reason that were read but not imported, with the first few line numbers.</summary>
public sealed record SkippedRows(string Reason, long Count, IReadOnlyList<long> FirstLines);

/// <summary>What happened to one input file: rows read, imported, skipped per reason, and facts about its shape.</summary>
public sealed class FileImportReport
{
    public required string File { get; init; }

    public required string Kind { get; init; }

    public long RowsRead { get; set; }

    public long RowsImported { get; set; }

    public List<SkippedRows> Skipped { get; } = [];

    /// <summary>Columns kept in <c>attributes</c> because the schema has no column of that name.</summary>
    public List<string> ExtraColumns { get; } = [];

    /// <summary>Counts that describe the file as it is (before any rule), to reconcile with the source's own figures.</summary>
    public Dictionary<string, long> Shape { get; } = [];

    public long RowsSkipped => Skipped.Sum(s => s.Count);
}

/// <summary>The result of an import: per file, and the rows each table gained.</summary>
public sealed class ImportReport
{
    public required string Source { get; init; }

    public List<FileImportReport> Files { get; } = [];

    /// <summary>Rows inserted per table (updates of existing customers and products are counted under "… updated").</summary>
    public Dictionary<string, long> Tables { get; } = [];

    public double Seconds { get; set; }

    /// <summary>The process's peak working set when the import finished, in bytes (shows that files are streamed).</summary>
    public long PeakWorkingSetBytes { get; set; }

    internal void Finish(Stopwatch clock)
    {
        Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3);
        using var process = Process.GetCurrentProcess();
        PeakWorkingSetBytes = process.PeakWorkingSet64;
    }
}

/// <summary>Counts skipped rows per reason, keeping the first <see cref="KeptLines"/> line numbers of each.</summary>
public sealed class SkipTally
{
    public const int KeptLines = 5;
    private readonly Dictionary<string, (long Count, List<long> Lines)> _reasons = [];

    public void Add(string reason, long line)
    {
        if (!_reasons.TryGetValue(reason, out var entry))
            entry = (0, []);
        if (entry.Lines.Count < KeptLines)
            entry.Lines.Add(line);
        _reasons[reason] = (entry.Count + 1, entry.Lines);
    }

    public void AddCounted(string reason, long count, IEnumerable<long> firstLines)
    {
        if (count > 0)
            _reasons[reason] = (count, firstLines.Take(KeptLines).ToList());
    }

    public long Total => _reasons.Values.Sum(r => r.Count);

    public void CopyTo(FileImportReport report) =>
        report.Skipped.AddRange(_reasons.OrderByDescending(r => r.Value.Count).Select(r => new SkippedRows(r.Key, r.Value.Count, r.Value.Lines)));
}
