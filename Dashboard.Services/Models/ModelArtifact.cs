using Recs.Services.Engine;

namespace Recs.Services.Models;

/// <summary>What serving needs: the fitted recipe and the database ids behind its dense user and item indices.</summary>
public sealed record ModelArtifact(Recommender Model, long[] UserIds, long[] ItemIds)
{
    private const int FormatVersion = 1;

    public byte[] ToBytes(IReadOnlyDictionary<string, string> hyperparameters)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(FormatVersion);
            WriteLongs(writer, UserIds);
            WriteLongs(writer, ItemIds);
            var model = RecipeCatalog.Save(Model, hyperparameters);
            writer.Write(model.Length);
            writer.Write(model);
        }
        return stream.ToArray();
    }

    public static ModelArtifact FromBytes(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        var format = reader.ReadInt32();
        if (format != FormatVersion)
            throw new InvalidDataException($"Model artifact format {format} is not supported (expected {FormatVersion}).");
        var users = ReadLongs(reader);
        var items = ReadLongs(reader);
        var model = RecipeCatalog.Load(reader.ReadBytes(reader.ReadInt32()));
        return new ModelArtifact(model, users, items);
    }

    private static void WriteLongs(BinaryWriter writer, long[] values)
    {
        writer.Write(values.Length);
        writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static long[] ReadLongs(BinaryReader reader)
    {
        var values = new long[reader.ReadInt32()];
        reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }
}
