using ServerlessOtlp.Gateway;

// The container entry point: settings from configuration (appsettings.json, ServerlessOtlp__* environment variables).
var configuration = new ConfigurationBuilder()
    .AddJsonFile("appsettings.json", optional: true)
    .AddEnvironmentVariables()
    .AddCommandLine(args)
    .Build();

var options = configuration.GetSection(GatewayOptions.Section).Get<GatewayOptions>() ?? new GatewayOptions();

await using var app = await GatewayHost.BuildAsync(options, configuration, args);
await app.RunAsync();
