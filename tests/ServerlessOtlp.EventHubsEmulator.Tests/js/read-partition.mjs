// Reads events from one partition with @azure/event-hubs' EventHubConsumerClient.subscribe and prints them
// as one JSON array on stdout. Used by JavaScriptSdkTests against the emulator (UseDevelopmentEmulator=true).
// usage: node read-partition.mjs <connection string> <consumer group> <partition id> <event count>
import { EventHubConsumerClient, earliestEventPosition } from "@azure/event-hubs";

const [connectionString, consumerGroup, partitionId, countText] = process.argv.slice(2);
const expected = Number(countText);

// A bounded run: the .NET test waits longer than this and reports what the script said.
const giveUp = setTimeout(() => {
  console.error(`timed out before ${expected} events arrived`);
  process.exit(3);
}, 60_000);

const client = new EventHubConsumerClient(consumerGroup, connectionString);
const received = [];
let finished;
const done = new Promise((resolve) => (finished = resolve));

const subscription = client.subscribe(
  partitionId,
  {
    processEvents: async (events) => {
      for (const event of events) {
        received.push({
          body: Buffer.from(event.body).toString("base64"),
          properties: event.properties ?? {},
          sequenceNumber: event.sequenceNumber,
          offset: String(event.offset),
          partitionKey: event.partitionKey ?? null,
          enqueuedTimeUtc: event.enqueuedTimeUtc.toISOString(),
        });
      }
      if (received.length >= expected) {
        finished();
      }
    },
    processError: async (error) => {
      // Reported, not fatal: the subscription retries as it would against the service.
      console.error(`processError: ${error.name}: ${error.message}`);
    },
  },
  { startPosition: earliestEventPosition, maxBatchSize: 50, maxWaitTimeInSeconds: 1, skipParsingBodyAsJson: true },
);

await done;
clearTimeout(giveUp);
await subscription.close();
await client.close();
process.stdout.write(JSON.stringify(received.slice(0, expected)) + "\n");
