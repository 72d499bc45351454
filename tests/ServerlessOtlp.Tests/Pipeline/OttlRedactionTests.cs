using OpenTelemetry.Proto.Common.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.OttlTestData;

namespace ServerlessOtlp.Tests.Pipeline;

public class OttlRedactionTests
{
    [Theory]
    [InlineData("http.request.header.authorization", true)]
    [InlineData("http.request.header.cookie", true)]
    [InlineData("http.response.header.set-cookie", true)]
    [InlineData("http.request.header.x-api-key", true)]
    [InlineData("api_key", true)]
    [InlineData("auth.token", true)]
    [InlineData("db.password", true)]
    [InlineData("client_secret", true)]
    [InlineData("http.request.method", false)]
    [InlineData("url.path", false)]
    public void Credential_keys_are_recognised(string key, bool credential)
    {
        Assert.Equal(credential, Redaction.IsCredentialKey(key));
    }

    [Theory]
    [InlineData("4111111111111111", true)]
    [InlineData("4111 1111 1111 1111", true)]
    [InlineData("5500-0000-0000-0004", true)]
    [InlineData("378282246310005", true)] // Amex, 15 digits
    [InlineData("4111111111111112", false)]
    [InlineData("411111111111", false)] // 12 digits
    public void Card_numbers_pass_the_luhn_check(string number, bool valid)
    {
        Assert.Equal(valid, Redaction.IsLuhnValid(number));
    }

    [Fact]
    public void Presets_mask_credentials_cards_and_emails_before_the_transforms()
    {
        var logs = Logs();
        var first = LogRecords(logs).First();
        first.Attributes.Add(Kv("order.note", "call 4111-1111-1111-1111 or 1234567890123 or mail ops@shop.example.com"));
        first.Attributes.Add(Kv("nested", new AnyValue { KvlistValue = new KeyValueList { Values = { Kv("db.password", "hunter2"), Kv("to", "a.b@c.io") } } }));
        var tenant = new TenantConfig
        {
            Id = "acme",
            Redaction = [RedactionPreset.Credentials, RedactionPreset.CardNumbers, RedactionPreset.Emails],
            Transforms = new OttlStatements { Logs = ["set(attributes[\"auth.copy\"], attributes[\"http.request.header.authorization\"])"] },
        };

        var result = new TenantTransformer().Apply(tenant, Signal.Logs, logs);

        var records = LogRecords(logs).ToList();
        Assert.All(records, r => Assert.Equal(Redaction.Mask, Attr(r.Attributes, "http.request.header.authorization")!.StringValue));
        Assert.All(records, r => Assert.Equal(Redaction.Mask, Attr(r.Attributes, "auth.copy")!.StringValue));
        Assert.Equal("order 12345 placed by [REDACTED-EMAIL]", records[1].Body.StringValue);
        Assert.Equal("payment failed for card [REDACTED-CARD]", records[2].Body.StringValue);
        Assert.Equal("call [REDACTED-CARD] or 1234567890123 or mail [REDACTED-EMAIL]", Attr(first.Attributes, "order.note")!.StringValue);
        var nested = Attr(first.Attributes, "nested")!.KvlistValue.Values;
        Assert.Equal([Redaction.Mask, Redaction.EmailMask], nested.Select(kv => kv.Value.StringValue));
        Assert.Equal(12345, Attr(first.Attributes, "order.id")!.IntValue);
        // 3 authorization headers, 1 e-mail and 1 card in bodies, 1 card and 1 e-mail in order.note, 1 password and 1 e-mail nested.
        Assert.Equal(9, result.Redacted);
    }

    [Fact]
    public void Only_the_chosen_presets_apply()
    {
        var logs = Logs();

        var result = new TenantTransformer().Apply(new TenantConfig { Id = "acme", Redaction = [RedactionPreset.Emails] }, Signal.Logs, logs);

        Assert.Equal(1, result.Redacted);
        Assert.Equal("Bearer abc.def", Attr(LogRecords(logs).First().Attributes, "http.request.header.authorization")!.StringValue);
        Assert.Contains("4111 1111 1111 1111", LogRecords(logs).Last().Body.StringValue, StringComparison.Ordinal);
    }
}
