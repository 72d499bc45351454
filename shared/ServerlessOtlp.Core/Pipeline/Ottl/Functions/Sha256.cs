using System.Security.Cryptography;
using System.Text;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>SHA256(value)</c>: the lower-case hex SHA-256 of a string (ottlfuncs/func_sha256.go).</summary>
internal sealed class Sha256() : OttlConverter("SHA256", OttlType.String, new OttlParam("value", OttlParamKind.Value))
{
    public override Func<OttlContext, object?> Compile(OttlArguments args)
    {
        var value = args.Value(0).Get;
        return c => Hash(value(c));
    }

    internal static string Hash(object? value)
    {
        if (value is not string s)
        {
            throw new OttlRuntimeException($"SHA256: expected string but got {OttlValues.TypeName(value)}");
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));
    }
}
