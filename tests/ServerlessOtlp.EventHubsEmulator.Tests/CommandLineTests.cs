using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Producer;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>The CLI contract: connection string first on stdout, serve until SIGTERM, exit 0.</summary>
public sealed class CommandLineTests
{
    [Fact]
    public async Task BuiltProgram_PrintsTheConnectionStringFirst_ServesTheSdk_AndExitsZeroOnSigterm()
    {
        // The emulator's build output (with its runtimeconfig) is copied beside the tests by the project reference.
        string program = Path.Combine(AppContext.BaseDirectory, "ServerlessOtlp.EventHubsEmulator.dll");
        using ProcessRunner emulator = ProcessRunner.Start("dotnet", AppContext.BaseDirectory, program, "--port", "0", "--partitions", "2", "--hub", "h", "--consumer-group", "functions");

        string? connectionString = await emulator.Process.StandardOutput.ReadLineAsync().WaitAsync(Emulators.Patience);

        Assert.NotNull(connectionString);
        Assert.Matches(
            @"^Endpoint=sb://127\.0\.0\.1:\d+;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=h;UseDevelopmentEmulator=true$",
            connectionString);
        await using (var producer = new EventHubProducerClient(connectionString))
        {
            Assert.Equal(["0", "1"], await producer.GetPartitionIdsAsync());
            await producer.SendAsync([new EventData("through the CLI")], new SendEventOptions { PartitionId = "1" });
        }

        await using (var consumer = new EventHubConsumerClient("functions", connectionString))
        {
            using var deadline = new CancellationTokenSource(Emulators.Patience);
            await foreach (PartitionEvent read in consumer.ReadEventsFromPartitionAsync("1", EventPosition.Earliest, deadline.Token))
            {
                Assert.Equal("through the CLI", read.Data.EventBody.ToString());
                break;
            }
        }

        using (ProcessRunner kill = ProcessRunner.Start("kill", AppContext.BaseDirectory, "-TERM", emulator.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            Assert.Equal(0, await kill.WaitForExitAsync());
        }

        Assert.Equal(0, await emulator.WaitForExitAsync());
        Assert.Equal(string.Empty, await emulator.Process.StandardOutput.ReadToEndAsync());
        Assert.Equal(string.Empty, emulator.Errors);
    }

    [Fact]
    public async Task UnknownArgument_PrintsUsageToStderr_AndExitsTwo()
    {
        string program = Path.Combine(AppContext.BaseDirectory, "ServerlessOtlp.EventHubsEmulator.dll");
        using ProcessRunner emulator = ProcessRunner.Start("dotnet", AppContext.BaseDirectory, program, "--partitions", "zero");

        Assert.Equal(2, await emulator.WaitForExitAsync());
        Assert.Equal(string.Empty, await emulator.Process.StandardOutput.ReadToEndAsync());
        Assert.Contains("usage:", emulator.Errors, StringComparison.Ordinal);
    }
}
