using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace ServerlessOtlp.Hosting;

/// <summary>The three storage service clients, from a connection string or an account name + identity.</summary>
public sealed class StorageClients
{
    public StorageClients(StorageOptions options, TokenCredential? credential = null)
    {
        Names = options.Names;
        var tableOptions = new TableClientOptions();
        var blobOptions = new BlobClientOptions();
        var queueOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None };
        tableOptions.AddPolicy(Transactions.Policy("table"), HttpPipelinePosition.PerRetry);
        blobOptions.AddPolicy(Transactions.Policy("blob"), HttpPipelinePosition.PerRetry);
        queueOptions.AddPolicy(Transactions.Policy("queue"), HttpPipelinePosition.PerRetry);
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            Tables = new TableServiceClient(options.ConnectionString, tableOptions);
            Blobs = new BlobServiceClient(options.ConnectionString, blobOptions);
            Queues = new QueueServiceClient(options.ConnectionString, queueOptions);
            Description = Tables.Uri.Host == "127.0.0.1" || Tables.Uri.Host == "localhost" ? $"Azurite at {Tables.Uri.Authority}" : $"storage account {Tables.AccountName}";
        }
        else if (!string.IsNullOrWhiteSpace(options.AccountName))
        {
            credential ??= new DefaultAzureCredential();
            string a = options.AccountName, s = options.EndpointSuffix;
            Tables = new TableServiceClient(new Uri($"https://{a}.table.{s}"), credential, tableOptions);
            Blobs = new BlobServiceClient(new Uri($"https://{a}.blob.{s}"), credential, blobOptions);
            Queues = new QueueServiceClient(new Uri($"https://{a}.queue.{s}"), credential, queueOptions);
            Description = $"storage account {a}";
        }
        else
        {
            throw new InvalidOperationException(
                $"No storage configured: set {StorageOptions.Section.Replace(":", "__", StringComparison.Ordinal)}__ConnectionString (Azurite) or __AccountName (Azure).");
        }
    }

    /// <summary>Billable storage requests sent through these clients.</summary>
    public StorageTransactions Transactions { get; } = new();

    public TableServiceClient Tables { get; }

    public BlobServiceClient Blobs { get; }

    public QueueServiceClient Queues { get; }

    public string Description { get; }

    /// <summary>The names of the tables, queue and containers in this account.</summary>
    public Storage.StorageNames Names { get; }
}
