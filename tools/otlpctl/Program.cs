using ServerlessOtlp.Cli;

return await OtlpctlApp.RunAsync(args);
