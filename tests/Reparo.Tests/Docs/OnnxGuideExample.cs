// README:usings
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
// README:end

namespace Reparo.Tests.Docs;

/// <summary>The C# part of docs/onnx.md, compiled and run by <see cref="OnnxGuideTests"/>.</summary>
internal static class OnnxGuideExample
{
    public static float[] Run(string repairedPath, float[] pixels)
    {
        // README:body
        using var session = new InferenceSession(repairedPath);
        var input = new DenseTensor<float>(pixels, [1, 28, 28]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        float[] logits = [.. results[0].AsEnumerable<float>()];
        // README:end
        return logits;
    }
}
