using System.IO.Compression;
using System.Text;

namespace Recs.Services.Ingestion;

/// <summary>A problem in an input file, with the line it is on.</summary>
public sealed class InputFileException(string message, long line = 0) : Exception(line > 0 ? $"line {line}: {message}" : message)
{
    public long Line { get; } = line;
}

/// <summary>
/// Streams the records of a CSV file (RFC 4180: quoted fields, doubled quotes, newlines inside quotes),
/// plain or gzip (detected by content). Invalid UTF-8, NUL bytes, unterminated quotes and ragged rows are
/// reported with their line number.
/// </summary>
public sealed class CsvRecords : IDisposable
{
    private readonly TextReader _reader;
    private readonly StringBuilder _field = new();
    private long _line = 1;

    public CsvRecords(Stream stream)
    {
        var buffered = new BufferedStream(stream, 1 << 16);
        Span<byte> magic = stackalloc byte[2];
        var read = buffered.Read(magic);
        buffered.Seek(-read, SeekOrigin.Current);
        Stream content = read == 2 && magic[0] == 0x1F && magic[1] == 0x8B ? new GZipStream(buffered, CompressionMode.Decompress) : buffered;
        _reader = new StreamReader(content, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
    }

    public static CsvRecords Open(string path)
    {
        if (!File.Exists(path))
            throw new InputFileException($"File not found: {path}");
        return new CsvRecords(File.OpenRead(path));
    }

    /// <summary>The line the last record returned started on.</summary>
    public long RecordLine { get; private set; }

    /// <summary>The next record's fields, or null at the end of the file. Blank lines are skipped.</summary>
    public List<string>? Next()
    {
        var fields = new List<string>();
        _field.Clear();
        var inQuotes = false;
        var fieldStarted = false;
        var any = false;
        RecordLine = _line;
        while (true)
        {
            int c;
            try
            {
                c = _reader.Read();
            }
            catch (DecoderFallbackException)
            {
                throw new InputFileException("the file is not valid UTF-8 text (binary data or another encoding)", _line);
            }
            catch (InvalidDataException e)
            {
                throw new InputFileException($"the gzip data is damaged or cut off ({e.Message})", _line);
            }
            if (c == -1)
            {
                if (inQuotes)
                    throw new InputFileException("a quoted field is not closed before the end of the file", RecordLine);
                if (!any)
                    return null;
                fields.Add(_field.ToString());
                return fields;
            }
            if (c == 0)
                throw new InputFileException("the file contains NUL bytes: binary data, not CSV text", _line);
            var ch = (char)c;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (_reader.Peek() == '"')
                    {
                        _reader.Read();
                        _field.Append('"');
                    }
                    else
                    {
                        inQuotes = false;
                    }
                }
                else
                {
                    if (ch == '\n') _line++;
                    _field.Append(ch);
                }
                continue;
            }
            switch (ch)
            {
                case '"' when !fieldStarted:
                    inQuotes = true;
                    fieldStarted = true;
                    any = true;
                    break;
                case ',':
                    fields.Add(_field.ToString());
                    _field.Clear();
                    fieldStarted = false;
                    any = true;
                    break;
                case '\r':
                    break;
                case '\n':
                    _line++;
                    if (!any && _field.Length == 0)
                    {
                        RecordLine = _line;
                        continue; // blank line
                    }
                    fields.Add(_field.ToString());
                    return fields;
                default:
                    _field.Append(ch);
                    fieldStarted = true;
                    any = true;
                    break;
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}
