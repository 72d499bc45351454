using Microsoft.Extensions.DependencyInjection;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Hosting;

/// <summary>
/// The <see cref="ProcessingServices"/> once the composition has started (<see cref="ServerlessOtlpStartup"/>:
/// options validated, the log opened, tables and containers created). A failed start (storage briefly
/// unreachable at a cold start) is not kept: the next call starts again.
/// </summary>
public sealed class ProcessingServicesProvider(IServiceProvider provider)
{
    public async ValueTask<ProcessingServices> GetAsync(CancellationToken cancellationToken = default)
    {
        await provider.StartServerlessOtlpAsync(cancellationToken);
        return provider.GetRequiredService<ProcessingServices>();
    }
}
