using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Processing.Stages;

/// <summary>In-memory doubles for driving one stage of the tenant pipeline by hand.</summary>
internal static class StageTestKit
{
    public const string Tenant = "acme";

    public static DateTimeOffset T0 { get; } = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public static ReadEvent Event(long position, ReadOnlyMemory<byte> body, Signal signal = Signal.Traces, double receivedAtSeconds = 0) => new(
        new LogPosition(position),
        new LogPosition(position + 1),
        new EventProperties(Tenant, signal, BodyCodec.Protobuf, 1, T0.AddSeconds(receivedAtSeconds), "gw"),
        body);

    public static EventContext Decoded(TenantConfig tenant, long position, IMessage message, int partition = 0)
    {
        var bytes = message.ToByteArray();
        return new EventContext(tenant, partition, Event(position, bytes)) { Message = message, Bytes = bytes };
    }

    public static TenantConfig TenantWith(params DestinationConfig[] destinations) => new() { Id = Tenant, Destinations = destinations };

    public static DestinationConfig Destination(string name, string kind = "capture", string? when = null, Signal signal = Signal.Traces) =>
        new() { Name = name, Kind = kind, Signals = [signal], When = when };

    public static DeadLettering DeadLettering(RecordingDeadLetters store) => new(store, NullLogger.Instance);
}

/// <summary>A dead-letter store that keeps what it is given.</summary>
internal sealed class RecordingDeadLetters : DeadLetterStore
{
    public ConcurrentQueue<(string? Destination, long Position, string Reason, byte[] Body)> Written { get; } = new();

    public override Task<string> WriteAsync(string? tenant, string? destination, Signal? signal, int partition, long position, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        Written.Enqueue((destination, position, reason, body.ToArray()));
        return Task.FromResult("dl");
    }
}

/// <summary>A retry store that keeps what it is given, or fails every write.</summary>
internal sealed class RecordingRetryStore(bool broken = false) : RetryStore
{
    public ConcurrentQueue<(string Destination, byte[] Body, DateTimeOffset FirstFailure, string Error)> Written { get; } = new();

    public override Task<string> WriteAsync(string tenant, string destination, Signal signal, ReadOnlyMemory<byte> protobuf, DateTimeOffset firstFailure, int attempts, string lastError, CancellationToken cancellationToken = default)
    {
        if (broken)
        {
            throw new IOException("storage unreachable");
        }

        Written.Enqueue((destination, protobuf.ToArray(), firstFailure, lastError));
        return Task.FromResult("r");
    }
}

/// <summary>The next stage: records what reached it and answers a fixed fate.</summary>
internal sealed class RecordingStage(EventFate answer = EventFate.Delivered) : IDrainStage
{
    public List<EventContext> Received { get; } = [];

    public Task<EventFate> ProcessAsync(EventContext item, CancellationToken cancellationToken)
    {
        Received.Add(item);
        return Task.FromResult(answer);
    }
}

/// <summary>A destination exporter of kind <c>capture</c> (or another) that keeps each request's protobuf and answers <see cref="Answer"/>.</summary>
internal sealed class RecordingExporter(string kind = "capture") : IDestinationExporter
{
    public string Kind => kind;

    public Func<ExportRequest, ExportOutcome> Answer { get; set; } = _ => ExportOutcome.Ok;

    public ConcurrentQueue<(string Destination, byte[] Protobuf)> Requests { get; } = new();

    public Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        Requests.Enqueue((request.Destination.Name, request.Protobuf.ToArray()));
        return Task.FromResult(Answer(request));
    }
}
