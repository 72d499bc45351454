using System.Text.Json;
using Azure.Messaging.EventHubs;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>
/// The JavaScript SDK's receiver (@azure/event-hubs, installed by the root package.json) reading what the
/// .NET SDK sent. Skipped, with the reason, when Node or the package is missing; never passed without running.
/// </summary>
public sealed class JavaScriptSdkTests
{
    [SkippableFact]
    public async Task JavaScriptConsumerClient_ReadsEventsThatTheDotNetSdkSent()
    {
        string root = Emulators.RepositoryRoot();
        string? node = ProcessRunner.FindOnPath("node");
        Skip.If(node is null, "node is not on PATH.");
        Skip.IfNot(
            File.Exists(Path.Combine(root, "node_modules", "@azure", "event-hubs", "package.json")),
            "@azure/event-hubs is not installed: run 'npm ci' at the repository root.");
        await using EventHubsEmulator emulator = await Emulators.StartAsync();
        var first = new EventData(BinaryData.FromBytes(new byte[] { 1, 2, 3, 255 }));
        first.Properties["tenant"] = "acme";
        first.Properties["count"] = 3;
        var second = new EventData(BinaryData.FromString("second"));
        await Emulators.SendAsync(emulator, "1", first, second);

        string script = Path.Combine(root, "tests", "ServerlessOtlp.EventHubsEmulator.Tests", "js", "read-partition.mjs");
        using ProcessRunner reader = ProcessRunner.Start(node!, root, script, emulator.ConnectionString, "$Default", "1", "2");
        string output = await reader.Process.StandardOutput.ReadToEndAsync().WaitAsync(Emulators.Patience);
        int exitCode = await reader.WaitForExitAsync();

        Assert.True(exitCode == 0, $"node exited {exitCode}: {reader.Errors}");
        JsonElement[] events = [.. JsonDocument.Parse(output).RootElement.EnumerateArray()];
        Assert.Equal(2, events.Length);
        Assert.Equal(Convert.ToBase64String([1, 2, 3, 255]), events[0].GetProperty("body").GetString());
        Assert.Equal("acme", events[0].GetProperty("properties").GetProperty("tenant").GetString());
        Assert.Equal(3, events[0].GetProperty("properties").GetProperty("count").GetInt32());
        Assert.Equal(0, events[0].GetProperty("sequenceNumber").GetInt64());
        Assert.Equal("0", events[0].GetProperty("offset").GetString());
        Assert.Equal(Convert.ToBase64String("second"u8.ToArray()), events[1].GetProperty("body").GetString());
        Assert.Equal(1, events[1].GetProperty("sequenceNumber").GetInt64());
    }
}
