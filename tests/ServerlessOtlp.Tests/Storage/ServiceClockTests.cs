using Azure.Data.Tables;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Storage;

[Collection(AzuriteCollection.Name)]
public sealed class ServiceClockTests
{
    private readonly AzuriteFixture _fixture;

    public ServiceClockTests(AzuriteFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public void Expiry_starts_exactly_at_renewal_plus_ttl()
    {
        var renewed = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var ttl = TimeSpan.FromSeconds(30);

        Assert.False(ServiceClock.IsExpired(renewed, ttl, renewed + ttl - TimeSpan.FromTicks(1)));
        Assert.True(ServiceClock.IsExpired(renewed, ttl, renewed + ttl));
    }

    [Fact]
    public async Task The_service_sends_its_time_with_every_table_response()
    {
        // Lease expiry relies on the Date header, not on the local-clock fallback.
        var table = TableTestContext.Service(_fixture.ConnectionString).GetTableClient(TableTestContext.UniqueTableName());
        await table.CreateIfNotExistsAsync();
        var written = await table.AddEntityAsync(new TableEntity("p", "r"));
        var read = await table.GetEntityIfExistsAsync<TableEntity>("p", "r");

        Assert.NotNull(written.Headers.Date);
        Assert.NotNull(read.GetRawResponse().Headers.Date);
        Assert.InRange(read.Value!.Timestamp!.Value - ServiceClock.Now(read.GetRawResponse()), TimeSpan.FromSeconds(-5), TimeSpan.FromSeconds(5));
    }
}
