namespace Recs.Services.Engine;

/// <summary>
/// A sparse matrix in compressed sparse row form: row <c>r</c>'s entries are
/// <c>Columns[RowStart[r]..RowStart[r + 1]]</c> with <c>Values</c> at the same positions, columns ascending.
/// </summary>
public sealed class CsrMatrix
{
    public CsrMatrix(int rows, int columns, int[] rowStart, int[] columnIndex, float[] values)
    {
        if (rowStart.Length != rows + 1 || columnIndex.Length != values.Length || rowStart[rows] != values.Length)
            throw new ArgumentException("Inconsistent CSR arrays.");
        Rows = rows;
        Columns = columns;
        RowStart = rowStart;
        ColumnIndex = columnIndex;
        Values = values;
    }

    public int Rows { get; }

    public int Columns { get; }

    public int[] RowStart { get; }

    public int[] ColumnIndex { get; }

    public float[] Values { get; }

    public int NonZeros => Values.Length;

    public ReadOnlySpan<int> RowColumns(int row) => ColumnIndex.AsSpan(RowStart[row], RowStart[row + 1] - RowStart[row]);

    public ReadOnlySpan<float> RowValues(int row) => Values.AsSpan(RowStart[row], RowStart[row + 1] - RowStart[row]);

    public int RowLength(int row) => RowStart[row + 1] - RowStart[row];

    /// <summary>
    /// Builds a matrix from (row, column, value) triples; duplicates are folded by summing their values,
    /// and columns in each row come out ascending.
    /// </summary>
    public static CsrMatrix FromTriples(int rows, int columns, ReadOnlySpan<int> rowIndex, ReadOnlySpan<int> columnIndex, ReadOnlySpan<float> values)
    {
        if (rowIndex.Length != columnIndex.Length || rowIndex.Length != values.Length)
            throw new ArgumentException("Triples must have equal lengths.");
        var counts = new int[rows + 1];
        foreach (var r in rowIndex)
        {
            if ((uint)r >= (uint)rows)
                throw new ArgumentOutOfRangeException(nameof(rowIndex), $"Row {r} is outside 0..{rows - 1}.");
            counts[r + 1]++;
        }
        for (var r = 0; r < rows; r++)
            counts[r + 1] += counts[r];
        var next = (int[])counts.Clone();
        var cols = new int[rowIndex.Length];
        var vals = new float[rowIndex.Length];
        for (var k = 0; k < rowIndex.Length; k++)
        {
            var c = columnIndex[k];
            if ((uint)c >= (uint)columns)
                throw new ArgumentOutOfRangeException(nameof(columnIndex), $"Column {c} is outside 0..{columns - 1}.");
            var at = next[rowIndex[k]]++;
            cols[at] = c;
            vals[at] = values[k];
        }

        // Sort each row by column and fold duplicates in place.
        var rowStart = new int[rows + 1];
        var write = 0;
        for (var r = 0; r < rows; r++)
        {
            var start = counts[r];
            var end = counts[r + 1];
            Array.Sort(cols, vals, start, end - start);
            rowStart[r] = write;
            for (var k = start; k < end; k++)
            {
                if (write > rowStart[r] && cols[write - 1] == cols[k])
                {
                    vals[write - 1] += vals[k];
                }
                else
                {
                    cols[write] = cols[k];
                    vals[write] = vals[k];
                    write++;
                }
            }
        }
        rowStart[rows] = write;
        Array.Resize(ref cols, write);
        Array.Resize(ref vals, write);
        return new CsrMatrix(rows, columns, rowStart, cols, vals);
    }

    /// <summary>The transpose (item × user from user × item), also in CSR form.</summary>
    public CsrMatrix Transpose()
    {
        var counts = new int[Columns + 1];
        foreach (var c in ColumnIndex)
            counts[c + 1]++;
        for (var c = 0; c < Columns; c++)
            counts[c + 1] += counts[c];
        var next = (int[])counts.Clone();
        var rows = new int[NonZeros];
        var vals = new float[NonZeros];
        for (var r = 0; r < Rows; r++)
        {
            for (var k = RowStart[r]; k < RowStart[r + 1]; k++)
            {
                var at = next[ColumnIndex[k]]++;
                rows[at] = r;
                vals[at] = Values[k];
            }
        }
        return new CsrMatrix(Columns, Rows, counts, rows, vals);
    }

    /// <summary>The same pattern with every stored value replaced.</summary>
    public CsrMatrix WithValues(Func<float, float> map)
    {
        var vals = new float[NonZeros];
        for (var k = 0; k < vals.Length; k++)
            vals[k] = map(Values[k]);
        return new CsrMatrix(Rows, Columns, RowStart, ColumnIndex, vals);
    }
}
