using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Reparo.Io;

/// <summary>
/// The container Reparo's file formats share: an 8-byte magic, a 4-byte little-endian header length, a UTF-8 JSON header,
/// then the raw payload, whose SHA-256 the header records. Reading checks the frame and parses the header; each format
/// checks its own fields and the checksum.
/// </summary>
internal static class FramedFile
{
    /// <summary>The lowercase hex SHA-256 that headers record for a payload.</summary>
    public static string Checksum(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));

    /// <summary>Magic, header length, JSON header, payload.</summary>
    public static byte[] Compose<THeader>(byte[] magic, THeader header, byte[] payload)
    {
        byte[] headerBytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header, ReparoJson.Options));
        var file = new byte[magic.Length + 4 + headerBytes.Length + payload.Length];
        magic.CopyTo(file, 0);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(magic.Length, 4), headerBytes.Length);
        headerBytes.CopyTo(file, magic.Length + 4);
        payload.CopyTo(file, magic.Length + 4 + headerBytes.Length);
        return file;
    }

    /// <summary>
    /// Checks the frame of <paramref name="file"/> and parses its header; a wrong magic, a truncated or unparsable header
    /// is a one-line <see cref="ReparoInputException"/> naming <paramref name="path"/>.
    /// </summary>
    /// <param name="file">The file's bytes.</param>
    /// <param name="magic">The format's 8 magic bytes.</param>
    /// <param name="path">The file's name for messages.</param>
    /// <param name="notA">What a wrong magic says the file is not (e.g. <c>a Reparo model file</c>).</param>
    /// <param name="headerOf">Whose header is truncated or corrupt (e.g. <c>model</c>).</param>
    public static (THeader? Header, ArraySegment<byte> Payload) Open<THeader>(byte[] file, byte[] magic, string path, string notA, string headerOf)
    {
        int start = magic.Length + 4;
        if (file.Length < start || !file.AsSpan(0, magic.Length).SequenceEqual(magic)) throw new ReparoInputException($"{path}: not {notA} (wrong magic bytes)");
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(magic.Length, 4));
        if (headerLength <= 0 || (long)start + headerLength > file.Length) throw new ReparoInputException($"{path}: truncated {headerOf} header");
        try
        {
            THeader? header = JsonSerializer.Deserialize<THeader>(file.AsSpan(start, headerLength), ReparoJson.Options);
            return (header, new ArraySegment<byte>(file, start + headerLength, file.Length - start - headerLength));
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            // NotSupportedException: a polymorphic entry (a layer) without its type discriminator.
            throw new ReparoInputException($"{path}: corrupt {headerOf} header ({e.Message.Split('\n')[0]})");
        }
    }
}
