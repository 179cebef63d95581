using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Reparo.Repair;

/// <summary>One input's float32 bytes, compared bitwise and hashed, as a dictionary key.</summary>
internal sealed class InputKey : IEquatable<InputKey>
{
    private readonly byte[] bytes;
    private readonly int hash;

    private InputKey(byte[] bytes)
    {
        this.bytes = bytes;
        var hasher = new HashCode();
        hasher.AddBytes(bytes);
        hash = hasher.ToHashCode();
    }

    /// <summary>A key for every row (first dimension) of <paramref name="x"/>, after conversion to float32.</summary>
    public static InputKey[] Rows(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor flat = x.to(ScalarType.Float32).reshape(x.shape[0], -1).contiguous();
        float[] values = flat.data<float>().ToArray();
        int width = (int)flat.shape[1];
        return Enumerable.Range(0, (int)flat.shape[0])
            .Select(r => new InputKey(MemoryMarshal.AsBytes(values.AsSpan(r * width, width)).ToArray()))
            .ToArray();
    }

    /// <inheritdoc />
    public bool Equals(InputKey? other) => other is not null && bytes.AsSpan().SequenceEqual(other.bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as InputKey);

    /// <inheritdoc />
    public override int GetHashCode() => hash;
}
