using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace ServerlessOtlp.Tests.Infrastructure;

/// <summary>A YAML document as plain data: maps (<c>Dictionary&lt;object, object&gt;</c>), lists and string scalars.</summary>
public static class YamlData
{
    /// <summary>Parses <paramref name="text"/> with merge keys (<c>&lt;&lt;: *anchor</c>) resolved.</summary>
    public static object? Load(string text)
    {
        using var reader = new StringReader(text);
        return new DeserializerBuilder().Build().Deserialize(new MergingParser(new Parser(reader)));
    }
}
