using System.Text;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>Concat(vals, delimiter)</c>: the values as text, joined (ottlfuncs/func_concat.go).</summary>
internal sealed class Concat() : OttlConverter("Concat", OttlType.String, new("vals", OttlParamKind.ValueList), new("delimiter", OttlParamKind.String))
{
    public override Func<OttlContext, object?> Compile(OttlArguments args)
    {
        if (args[0] is not OttlList list)
        {
            throw args.Error(0, "vals must be a list such as [a, b]");
        }

        var items = list.Items.Select(i => args.Value(i).Get).ToArray();
        string delimiter = args.String(1);
        return c =>
        {
            var sb = new StringBuilder();
            for (int i = 0; i < items.Length; i++)
            {
                // Go's fmt.Sprint of a nil *string, as the Collector's Concat writes it.
                sb.Append(i == 0 ? "" : delimiter).Append(OttlValues.StringLike(items[i](c)) ?? "<nil>");
            }

            return sb.ToString();
        };
    }
}
