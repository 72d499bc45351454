using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Export;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Processing;

namespace ServerlessOtlp.Tests.Functions;

/// <summary><c>POST admin/deadletters/redrive</c>: the shared redrive, called through the function class, on Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AdminRedriveTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Redrive_filters_by_tenant_and_destination_removes_what_it_delivered_and_counts_the_rest()
    {
        string tenant = "rd-" + Guid.NewGuid().ToString("N")[..8];
        string outDir = Directory.CreateTempSubdirectory("redrive-").FullName;
        var tenants = new InMemoryTenantDirectory(new TenantFile
        {
            Tenants = [new TenantConfig { Id = tenant, Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = outDir } }] }],
        });
        var host = new ProcessingHost(
            ct => ProcessingServices.CreateAsync(new MemoryLog(1, "mem-" + Guid.NewGuid().ToString("N")[..12]), azurite.IsolatedStorage(), tenants, DrainTestContext.Options("redrive-test"), NullLoggerFactory.Instance, ServerlessOtlp.Tests.Export.TestEgress.Local, ct),
            services => new InProcessDrainJobs(),
            new FunctionsOptions(),
            new HealthOptions());
        var dead = (await host.GetAsync()).Services.DeadLetters;
        var (request, ids) = ExporterContractTests.TestRequest(7);
        await dead.WriteAsync(tenant, "files", Signal.Traces, 0, 10, "backend was down", request.ToByteArray());
        await dead.WriteAsync(tenant, "files", Signal.Traces, 0, 11, "backend refused", new byte[] { 0xFF, 0xFF, 0xFF }); // fails again
        await dead.WriteAsync(tenant, "removed", Signal.Traces, 0, 12, "destination removed since", request.ToByteArray());
        var function = new AdminRedriveFunction(host, NullLogger<DeadLetterRedrive>.Instance);

        var response = (FakeHttpResponse)await function.RunAsync(
            new FakeHttpRequest("POST", "http://localhost/api/admin/deadletters/redrive", $$"""{ "tenant": "{{tenant}}", "destination": "files" }"""), default);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (var doc = JsonDocument.Parse(response.ReadBody()))
        {
            var root = doc.RootElement;
            Assert.Equal((1, 1, 0, 0), (root.GetProperty("delivered").GetInt32(), root.GetProperty("failed").GetInt32(), root.GetProperty("retry").GetInt32(), root.GetProperty("skipped").GetInt32()));
        }

        string written = await File.ReadAllTextAsync(Path.Combine(outDir, "traces.jsonl"));
        Assert.All(ids, id => Assert.Contains(id, written, StringComparison.Ordinal));
        var left = await dead.ListAsync(tenant);
        Assert.Equal(2, left.Count); // the one for a removed destination, and the undecodable one re-written with its new reason
        Assert.Contains(left, d => d.Destination == "removed" && d.Position == 12);
        Assert.Contains(left, d => d.Position == 11 && d.Reason.StartsWith("undecodable", StringComparison.Ordinal));

        // Without a destination: the removed destination's letter is skipped with why, and kept.
        var all = await function.RedriveAsync(new RedriveRequest(tenant));
        Assert.Equal((0, 1, 0, 1), (all.Delivered, all.Failed, all.Retry, all.Skipped));
        Assert.Contains("no destination \"removed\"", Assert.Single(all.SkipReasons), StringComparison.Ordinal);
        Assert.Contains(await dead.ListAsync(tenant), d => d.Destination == "removed");

        var bad = (FakeHttpResponse)await function.RunAsync(new FakeHttpRequest("POST", "http://localhost/api/admin/deadletters/redrive", "{ not json"), default);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task The_Maintenance_timer_settles_parked_batches()
    {
        string tenant = "rt-" + Guid.NewGuid().ToString("N")[..8];
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        var services = (await host.Host.GetAsync()).Services;
        await services.RetryStore.WriteAsync(tenant, "tempo", Signal.Traces, ExporterContractTests.TestRequest(1).Request.ToByteArray(), DateTimeOffset.UtcNow, 1, "HTTP 503");

        var result = await new MaintenanceFunction(host.Host, NullLogger<MaintenanceFunction>.Instance).MaintainAsync();

        // The tenant is not configured in this app: the entry can never be delivered and is dead-lettered.
        Assert.True(result.RetriesSettled >= 1);
        Assert.NotNull(result.Health);
        Assert.NotNull(result.SegmentsDeleted);
        Assert.Empty(await services.RetryStore.ListAsync(tenant));
        var letter = Assert.Single(await services.DeadLetters.ListAsync(tenant));
        Assert.Contains("no longer configured", letter.Reason, StringComparison.Ordinal);
        await services.DeadLetters.DeleteAsync(letter.Id);
    }
}
