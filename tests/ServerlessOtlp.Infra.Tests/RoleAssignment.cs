using System.Text.RegularExpressions;

namespace ServerlessOtlp.Infra.Tests;

/// <summary>
/// A role assignment of the compiled template, reduced to who (the identity parameter its
/// principal comes from), what (the role definition GUID) and where (the scope's resource type
/// and expression).
/// </summary>
public sealed partial record RoleAssignment(string Principal, string RoleId, string ScopeType, string Scope, string PrincipalType)
{
    public const string Gateway = "gatewayIdentityName";
    public const string Functions = "functionsIdentityName";
    public const string Deployer = "deployerPrincipalId";

    public static IReadOnlyList<RoleAssignment> All(CompiledTemplate template) =>
        template.Resources("Microsoft.Authorization/roleAssignments").Select(x => From(x.Deployment, x.Resource)).ToList();

    public static RoleAssignment From(CompiledTemplate.Deployment deployment, JsonObject resource)
    {
        var properties = resource["properties"]!;
        return new RoleAssignment(
            PrincipalOf(deployment, (string)properties["principalId"]!),
            RoleIdOf(deployment, (string)properties["roleDefinitionId"]!),
            ScopeTypeOf((string?)resource["scope"]),
            (string?)resource["scope"] ?? "",
            (string?)properties["principalType"] ?? "");
    }

    /// <summary>
    /// The template parameter that names the principal: `reference('gatewayIdentity').principalId`
    /// → the existing identity resource `gatewayIdentity` → its name `parameters('gatewayIdentityName')`.
    /// </summary>
    private static string PrincipalOf(CompiledTemplate.Deployment deployment, string expression)
    {
        var text = expression;
        if (SymbolReference().Match(expression) is { Success: true } symbol &&
            deployment.Symbol(symbol.Groups[1].Value) is { } resource)
        {
            text = (string)resource["name"]!;
        }

        var parameter = ParameterReference().Match(text);
        Assert.True(parameter.Success, $"Cannot tell which principal `{expression}` is.");
        return parameter.Groups[1].Value;
    }

    private static string RoleIdOf(CompiledTemplate.Deployment deployment, string expression)
    {
        if (Guid().Match(expression) is { Success: true } literal)
        {
            return literal.Value.ToLowerInvariant();
        }

        var variable = VariableMember().Match(expression);
        Assert.True(variable.Success, $"Cannot resolve role definition `{expression}`.");
        var value = deployment.ResolveString(JsonValue.Create($"[variables('{variable.Groups[1].Value}').{variable.Groups[2].Value}]"));
        Assert.Matches(Guid(), value ?? "");
        return value!.ToLowerInvariant();
    }

    private static string ScopeTypeOf(string? scope)
    {
        if (scope is null)
        {
            return "resourceGroup";
        }

        var type = ResourceIdType().Match(scope);
        return type.Success ? type.Groups[1].Value : scope;
    }

    [GeneratedRegex(@"^\[reference\('(\w+)'\)\.principalId\]$")]
    private static partial Regex SymbolReference();

    [GeneratedRegex(@"parameters\('(\w+)'\)")]
    private static partial Regex ParameterReference();

    [GeneratedRegex(@"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")]
    private static partial Regex Guid();

    [GeneratedRegex(@"variables\('(\w+)'\)\.(\w+)")]
    private static partial Regex VariableMember();

    [GeneratedRegex(@"resourceId\('([^']+)'")]
    private static partial Regex ResourceIdType();
}

/// <summary>Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).</summary>
public static class BuiltInRoles
{
    public const string EventHubsDataSender = "2b629674-e913-4c01-ae53-ef4638d8f975";
    public const string EventHubsDataReceiver = "a638d3c7-ab3a-418d-83e6-5f17a39d4fde";
    public const string EventHubsDataOwner = "f526a384-b230-433a-b45c-95f59c4a2dec";
    public const string StorageTableDataReader = "76199698-9eea-4c19-bc75-cec21354c6b6";
    public const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    public const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    public const string StorageQueueDataMessageSender = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a";
    public const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    public const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    public const string StorageBlobDataReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
    public const string AcrPull = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
    public const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
    public const string Owner = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    public const string Contributor = "b24988ac-6180-42a0-ab88-20f5ea36fc3d";
}
