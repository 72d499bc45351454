using System.Net.Sockets;
using Azure;
using Azure.Identity;

namespace ServerlessOtlp.Cli.Connection;

/// <summary>Turns the storage SDK's failures into messages that say what to do.</summary>
internal static class StorageErrors
{
    /// <summary>A message for <paramref name="ex"/> when it means "storage unreachable" or "not signed in"; else null.</summary>
    public static string? Describe(Exception ex)
    {
        for (Exception? e = ex; e != null; e = e.InnerException)
        {
            if (e is AuthenticationFailedException or CredentialUnavailableException)
            {
                return $"could not sign in to Azure ({e.Message.Split('\n')[0]}): run `az login`, or give a managed identity (AZURE_CLIENT_ID)";
            }

            if (e is HttpRequestException or SocketException || (e is RequestFailedException { Status: 0 } && e.InnerException is null))
            {
                string where = StorageSelection.CurrentDescription ?? "storage";
                return StorageSelection.CurrentIsAzurite
                    ? $"storage unreachable ({where}): is Azurite running? start `otlpctl dev` or pass --storage"
                    : $"storage unreachable ({where}): check --storage-account and your network";
            }

            if (e is RequestFailedException { Status: 403 })
            {
                return $"storage refused the request (403, {StorageSelection.CurrentDescription}): the identity needs the Storage Blob/Table/Queue Data Contributor roles";
            }
        }

        return null;
    }
}
