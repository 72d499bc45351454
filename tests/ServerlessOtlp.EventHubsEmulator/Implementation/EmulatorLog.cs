namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>Errors go to one writer (stderr by default): stdout belongs to the connection string.</summary>
internal sealed class EmulatorLog(TextWriter writer, TimeProvider time)
{
    private readonly TextWriter writer = TextWriter.Synchronized(writer);

    public void Error(string what, Exception exception) =>
        writer.WriteLine($"{time.GetUtcNow():O} eventhubs-emulator: {what}: {exception.GetType().Name}: {exception.Message}");
}
