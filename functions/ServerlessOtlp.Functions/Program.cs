using Microsoft.Extensions.DependencyInjection;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

namespace ServerlessOtlp.Functions;

/// <summary>The Functions worker's entry point; tests build (never run) the same host from <see cref="CreateBuilder"/>.</summary>
public static class Program
{
    public static void Main(string[] args) => CreateBuilder(args).Build().Run();

    /// <summary>The worker host as deployed: configuration from the app settings, the processing composition, the functions.</summary>
    public static FunctionsApplicationBuilder CreateBuilder(string[] args)
    {
        var builder = FunctionsApplication.CreateBuilder(args);
        builder.Services.AddServerlessOtlpFunctions(builder.Configuration);
        builder.UseMiddleware<FunctionExecutions>(); // every execution counted and timed (the bill's meters)
        return builder;
    }
}
