using System.Reflection;
using Azure.Messaging.EventHubs;
using ServerlessOtlp.EventHubsEmulator.Implementation;

namespace ServerlessOtlp.EventHubsEmulator.Tests;

/// <summary>The emulator's key hashing against the SDK's own resolver, which mirrors the service.</summary>
public sealed class PartitionKeyHashTests
{
    [Fact]
    public void PartitionForKey_MatchesTheSdksPartitionResolver()
    {
        // Azure.Messaging.EventHubs.Core.PartitionResolver is internal; the buffered producer uses it to
        // predict the service's choice, so it is the reference this hash must agree with.
        Type resolverType = typeof(EventData).Assembly.GetType("Azure.Messaging.EventHubs.Core.PartitionResolver", throwOnError: true)!;
        object resolver = Activator.CreateInstance(resolverType, nonPublic: true)!;
        MethodInfo assign = resolverType.GetMethod("AssignForPartitionKey", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)!;
        string[] keys = ["", "a", "tenant-a", "twelve bytes", "thirteen byte", "ünïcødé-κλειδί-鍵", new string('k', 257), "0123456789abcdefghijklmnopqrstuvwxyz"];

        foreach (int partitionCount in new[] { 1, 2, 3, 4, 7, 32 })
        {
            string[] partitions = [.. Enumerable.Range(0, partitionCount).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
            foreach (string key in keys)
            {
                string expected = (string)assign.Invoke(resolver, [key, partitions])!;
                Assert.Equal(expected, partitions[PartitionKeyHash.PartitionIndex(key, partitionCount)]);
            }
        }
    }
}
