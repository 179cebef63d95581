using Onnx;

namespace Reparo.Models.Onnx;

/// <summary>Typed access to a node's attributes, with ONNX's defaults when an attribute is absent.</summary>
internal static class OnnxAttributes
{
    /// <summary>The attribute named <paramref name="name"/>, or null when the node has none.</summary>
    public static AttributeProto? Find(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    /// <summary>An integer attribute, or <paramref name="fallback"/> when absent.</summary>
    public static long Int(NodeProto node, string name, long fallback) => Find(node, name) is { } a ? a.I : fallback;

    /// <summary>A float attribute, or <paramref name="fallback"/> when absent.</summary>
    public static double Float(NodeProto node, string name, double fallback) => Find(node, name) is { } a ? a.F : fallback;

    /// <summary>A string attribute, or <paramref name="fallback"/> when absent.</summary>
    public static string String(NodeProto node, string name, string fallback) => Find(node, name) is { } a ? a.S.ToStringUtf8() : fallback;

    /// <summary>An integer-list attribute, or null when absent.</summary>
    public static long[]? Ints(NodeProto node, string name) => Find(node, name) is { } a ? [.. a.Ints] : null;

    /// <summary>A float-list attribute, or null when absent.</summary>
    public static float[]? Floats(NodeProto node, string name) => Find(node, name) is { } a ? [.. a.Floats] : null;

    /// <summary>A string-list attribute, or null when absent.</summary>
    public static string[]? Strings(NodeProto node, string name) => Find(node, name) is { } a ? [.. a.Strings.Select(s => s.ToStringUtf8())] : null;
}
