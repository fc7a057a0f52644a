using System.IO.Compression;
using System.Text;

namespace Recs.Services.Ingestion;

/// <summary>A problem in an input file, with the line it is on.</summary>
public sealed class InputFileException : Exception
{
    public InputFileException(string message, long line = 0) : base(line > 0 ? $"line {line}: {message}" : message) => Line = line;

    private InputFileException(string message, long line, Exception inner) : base(message, inner) => Line = line;

    public long Line { get; }

    /// <summary>The same problem, naming the file it is in (for imports of several files).</summary>
    public InputFileException InFile(string file) => new($"{file}, {Message}", Line, this);
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
        Stream content = buffered;
        if (read == 2 && magic[0] == 0x1F && magic[1] == 0x8B)
        {
            var trailer = stream.CanSeek && stream.Length >= 18 ? ReadTrailer(buffered) : null;
            content = new GZipStream(buffered, CompressionMode.Decompress);
            if (trailer is not null)
                content = new VerifiedGzipStream(content, trailer);
        }
        _reader = new StreamReader(content, new UTF8Encoding(false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
    }

    /// <summary>The last 8 bytes of a gzip file: CRC-32 and size of the uncompressed data (of its last member).</summary>
    private static byte[] ReadTrailer(Stream stream)
    {
        var position = stream.Position;
        var trailer = new byte[8];
        stream.Seek(-8, SeekOrigin.End);
        stream.ReadExactly(trailer);
        stream.Seek(position, SeekOrigin.Begin);
        return trailer;
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
            // Invalid bytes decode to U+FFFD here (the decoder works a buffer ahead, so its own exception could not say
            // which line); a file that really contains U+FFFD is rejected too, which no real export does on purpose.
            if (c == '\uFFFD')
                throw new InputFileException("the file is not valid UTF-8 text (binary data or another encoding)", _line);
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

/// <summary>
/// Checks decompressed gzip data against the file's trailer (CRC-32 and size) when it ends: .NET's GZipStream
/// reports a file cut off at a block boundary as a clean end, which would import the first part silently.
/// A file of several concatenated gzip members is reported as damaged too (the trailer is the last member's).
/// </summary>
internal sealed class VerifiedGzipStream(Stream inner, byte[] trailer) : Stream
{
    private readonly System.IO.Hashing.Crc32 _crc = new();
    private uint _size;
    private bool _checked;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        if (n > 0)
        {
            _crc.Append(buffer[..n]);
            _size = unchecked(_size + (uint)n);
        }
        else if (!_checked && buffer.Length > 0)
        {
            _checked = true;
            var crc = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer);
            var size = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(trailer.AsSpan(4));
            if (crc != _crc.GetCurrentHashAsUInt32() || size != _size)
                throw new InvalidDataException("the data ends before the gzip trailer, or does not match its checksum");
        }
        return n;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() { }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }
}
