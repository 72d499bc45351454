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
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            Tables = new TableServiceClient(options.ConnectionString);
            Blobs = new BlobServiceClient(options.ConnectionString);
            Queues = new QueueServiceClient(options.ConnectionString, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
            Description = Tables.Uri.Host == "127.0.0.1" || Tables.Uri.Host == "localhost" ? $"Azurite at {Tables.Uri.Authority}" : $"storage account {Tables.AccountName}";
        }
        else if (!string.IsNullOrWhiteSpace(options.AccountName))
        {
            credential ??= new DefaultAzureCredential();
            string a = options.AccountName, s = options.EndpointSuffix;
            Tables = new TableServiceClient(new Uri($"https://{a}.table.{s}"), credential);
            Blobs = new BlobServiceClient(new Uri($"https://{a}.blob.{s}"), credential);
            Queues = new QueueServiceClient(new Uri($"https://{a}.queue.{s}"), credential, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
            Description = $"storage account {a}";
        }
        else
        {
            throw new InvalidOperationException(
                $"No storage configured: set {StorageOptions.Section.Replace(":", "__", StringComparison.Ordinal)}__ConnectionString (Azurite) or __AccountName (Azure).");
        }
    }

    public TableServiceClient Tables { get; }

    public BlobServiceClient Blobs { get; }

    public QueueServiceClient Queues { get; }

    public string Description { get; }

    /// <summary>The names of the tables, queue and containers in this account.</summary>
    public Storage.StorageNames Names { get; }
}
