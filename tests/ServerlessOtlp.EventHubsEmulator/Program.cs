using System.Globalization;
using System.Runtime.InteropServices;
using ServerlessOtlp.EventHubsEmulator;

// The CLI contract: the connection string is the first line on stdout, errors go to stderr, and
// SIGTERM or Ctrl+C stops the emulator with exit code 0.
EmulatorOptions options;
try
{
    options = ParseArguments(args);
    options.Validate();
}
catch (Exception exception) when (exception is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine(exception.Message);
    Console.Error.WriteLine(
        "usage: ServerlessOtlp.EventHubsEmulator [--port P] [--partitions N] [--hub NAME] [--consumer-group G ...] " +
        "[--max-message-size BYTES] [--retention TIMESPAN]");
    return 2;
}

using var stop = new CancellationTokenSource();
void RequestStop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

using PosixSignalRegistration onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, RequestStop);
using PosixSignalRegistration onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, RequestStop);

EventHubsEmulator emulator;
try
{
    emulator = await EventHubsEmulator.StartAsync(options);
}
catch (System.Net.Sockets.SocketException exception)
{
    Console.Error.WriteLine($"cannot listen on 127.0.0.1:{options.Port}: {exception.Message}");
    return 1;
}

await using var running = emulator;
Console.Out.WriteLine(emulator.ConnectionString);
Console.Out.Flush();

try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
    // Asked to stop: disposing the emulator closes every connection.
}

return 0;

static EmulatorOptions ParseArguments(string[] arguments)
{
    var options = new EmulatorOptions();
    var consumerGroups = new List<string>();
    for (int i = 0; i < arguments.Length; i++)
    {
        string name = arguments[i];
        string Value() => i + 1 < arguments.Length ? arguments[++i] : throw new ArgumentException($"{name} needs a value.");
        switch (name)
        {
            case "--port":
                options.Port = int.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            case "--partitions":
                options.Partitions = int.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            case "--hub":
                options.HubName = Value();
                break;
            case "--consumer-group":
                consumerGroups.Add(Value());
                break;
            case "--max-message-size":
                options.MaxMessageSize = long.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            case "--retention":
                options.Retention = TimeSpan.Parse(Value(), CultureInfo.InvariantCulture);
                break;
            default:
                throw new ArgumentException($"Unknown argument '{name}'.");
        }
    }

    options.ConsumerGroups = consumerGroups;
    return options;
}
