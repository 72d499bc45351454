using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Azure.Storage.Blobs;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Functions;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Export;

/// <summary>The retry store's size and age where operators look: metrics, <c>otlpctl status</c>, the admin status JSON.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class RetryStoreVisibilityTests(AzuriteFixture azurite)
{
    private static readonly DestinationConfig Down = new() { Name = "down", Kind = OtlpHttpDestination.KindName, Signals = [Signal.Traces], Endpoint = "http://down:4318" };

    [Fact]
    public async Task The_drainer_publishes_batches_bytes_and_oldest_age_per_destination_as_gauges()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
        var blobs = new BlobServiceClient(azurite.ConnectionString);
        string suffix = Guid.NewGuid().ToString("N")[..12];
        var retry = new RetryStore(blobs.GetBlobContainerClient("retry-" + suffix), time);
        var dead = new DeadLetterStore(blobs.GetBlobContainerClient("dl-" + suffix));
        await retry.EnsureCreatedAsync();
        await dead.EnsureCreatedAsync();
        var now = time.GetUtcNow();
        byte[] first = ExporterContractTests.TestRequest(1).Request.ToByteArray(), second = ExporterContractTests.TestRequest(2).Request.ToByteArray();
        await retry.WriteAsync("acme", "down", Signal.Traces, first, now.AddSeconds(-120), 1, "503");
        await retry.WriteAsync("acme", "down", Signal.Traces, second, now.AddSeconds(-60), 1, "503");
        await retry.WriteAsync("acme", "gone", Signal.Traces, first, now.AddSeconds(-10), 1, "503"); // no longer configured: dead-lettered
        long bytes = first.Length + second.Length;

        // The backend still refuses (and asks for a wait longer than the inline budget): nothing to retry inline.
        var backend = new AnsweringExporter(OtlpHttpDestination.KindName, ExportOutcome.Transient("HTTP 503", TimeSpan.FromMinutes(5)));
        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "acme", Destinations = [Down] }] });
        using var metrics = new RetryStoreMetrics(time: time);
        var drainer = new RetryStoreDrainer(retry, new ResilientExporter([backend]), tenants, dead, time: time, metrics: metrics);

        Assert.Equal(1, await drainer.DrainOnceAsync());
        time.Advance(TimeSpan.FromSeconds(30));

        var measured = Collect(metrics);
        Assert.Equal(2, measured[("otlp_retry_store_batches", "acme", "down")]);
        Assert.Equal(bytes, measured[("otlp_retry_store_bytes", "acme", "down")]);
        Assert.Equal(150, measured[("otlp_retry_store_oldest_age", "acme", "down")]);
        Assert.DoesNotContain(measured.Keys, k => k.Destination == "gone");
        var backlog = Assert.Single(metrics.Current);
        Assert.Equal(("acme", "down", 2, bytes, TimeSpan.FromSeconds(150)), (backlog.Tenant, backlog.Destination, backlog.Count, backlog.Bytes, backlog.OldestAge));
    }

    [Fact]
    public async Task Admin_status_and_otlpctl_status_show_the_retry_store_per_destination()
    {
        string tenant = "rs-" + Guid.NewGuid().ToString("N")[..6];
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        var services = (await host.Host.GetAsync()).Services;
        var now = DateTimeOffset.UtcNow;
        await services.RetryStore.WriteAsync(tenant, "tempo", Signal.Traces, new byte[1000], now.AddMinutes(-5), 3, "HTTP 503");
        await services.RetryStore.WriteAsync(tenant, "tempo", Signal.Traces, new byte[234], now.AddMinutes(-1), 1, "HTTP 503");
        await services.RetryStore.WriteAsync(tenant, "loki", Signal.Logs, new byte[10], now, 1, "timeout");

        var response = (FakeHttpResponse)await new AdminFunctions(host.Host).StatusAsync(new FakeHttpRequest("GET", "http://localhost/api/admin/status"), default);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(response.ReadBody());
        var rows = doc.RootElement.GetProperty("retryStore").EnumerateArray().Where(r => r.GetProperty("tenant").GetString() == tenant).ToList();
        Assert.Equal(["loki", "tempo"], rows.Select(r => r.GetProperty("destination").GetString()));
        var tempo = rows[1];
        Assert.Equal(2, tempo.GetProperty("batches").GetInt32());
        Assert.Equal(1234, tempo.GetProperty("bytes").GetInt64());
        Assert.InRange(tempo.GetProperty("oldestAgeSeconds").GetDouble(), 299, 3600);

        using var status = await Otlpctl.RunAsync(AzuriteFixture.NameSettings(host.Names), "status", "--storage", azurite.ConnectionString);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("retry store", status.Stdout, StringComparison.Ordinal);
        var line = Assert.Single(status.Stdout.Split('\n'), l => l.Contains(tenant, StringComparison.Ordinal) && l.Contains("tempo", StringComparison.Ordinal));
        Assert.Matches(@"\b2\b.*1,234.*\b5m\b", line);
    }

    private static Dictionary<(string Name, string Tenant, string Destination), double> Collect(RetryStoreMetrics metrics)
    {
        var measured = new Dictionary<(string, string, string), double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RetryStoreMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };

        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string tenant = "", destination = "";
            foreach (var tag in tags)
            {
                if (tag.Key == "tenant")
                {
                    tenant = (string)tag.Value!;
                }
                else if (tag.Key == "destination")
                {
                    destination = (string)tag.Value!;
                }
            }

            measured[(instrument.Name, tenant, destination)] = value;
        }

        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        listener.RecordObservableInstruments();
        return measured;
    }

    private sealed class AnsweringExporter(string kind, ExportOutcome answer) : IDestinationExporter
    {
        public string Kind => kind;

        public Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default) => Task.FromResult(answer);
    }
}
