namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary>
/// The functions of the subset, as the Collector's ottlfuncs registry: adding one is a file in
/// this folder and a line here. The compiler, and through it the tenant-file validator, finds
/// functions here only.
/// </summary>
internal static class OttlFunctionRegistry
{
    // Editors, then converters: the order an unknown name's error lists them in.
    private static readonly OttlFunction[] Functions =
    [
        new Set(),
        new DeleteKey(),
        new DeleteMatchingKeys(),
        new KeepKeys(),
        new Limit(),
        new TruncateAll(),
        new ReplacePattern(),
        new ReplaceAllPatterns(),
        new Sha256(),
        new Concat(),
        new IsMatch(),
        new IsString(),
    ];

    // ToDictionary throws on a name registered twice: the type does not load, every test fails.
    private static readonly Dictionary<string, OttlFunction> ByName = Functions.ToDictionary(f => f.Name, StringComparer.Ordinal);

    public static IReadOnlyList<OttlFunction> All => Functions;

    public static OttlFunction? Find(string name) => ByName.GetValueOrDefault(name);
}
