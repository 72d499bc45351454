using System.Text.RegularExpressions;

namespace ServerlessOtlp.Tenants;

// The rules of a tenant's sampling section: head sampling and the tail policies (composite, and, their settings).
public static partial class TenantFileParser
{
    private sealed partial class Rules
    {
        private void CheckSampling(SamplingConfig? sampling, string path)
        {
            if (sampling?.Traces is { } traces)
            {
                CheckPercentage(traces.SamplingPercentage, path + ".traces.samplingPercentage");
                if (traces.Precision is < 1 or > TraceSamplingConfig.MaxPrecision)
                {
                    error(path + ".traces.precision", $"must be between 1 and {TraceSamplingConfig.MaxPrecision} (hexadecimal digits of the threshold), got {traces.Precision}");
                }
            }

            if (sampling?.Tail is { } tail)
            {
                if (tail.DecisionWait <= TimeSpan.Zero)
                {
                    error(path + ".tail.decisionWait", "must be greater than 0");
                }

                CheckPolicies(tail.Policies, path + ".tail.policies");
            }
        }

        private void CheckPercentage(double value, string path)
        {
            if (!(value is >= 0 and <= 100))
            {
                error(path, $"must be between 0 and 100, got {value}");
            }
        }

        /// <param name="within">The enclosing and/composite, if any: as in the Collector, composite does not nest.</param>
        private void CheckPolicies(IReadOnlyList<TailPolicy> policies, string listPath, string? within = null)
        {
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int p = 0; p < policies.Count; p++)
            {
                var policy = policies[p];
                string path = JsonPaths.Index(listPath, p);
                if (string.IsNullOrWhiteSpace(policy.Name))
                {
                    error(path + ".name", "must not be empty");
                }
                else if (!names.TryAdd(policy.Name, path))
                {
                    error(path + ".name", $"duplicate policy name \"{policy.Name}\" (also {names[policy.Name]})");
                }

                if (within is not null && policy.Type == TailPolicyType.Composite)
                {
                    error(path + ".type", $"a composite policy cannot be nested inside \"{within}\"");
                }

                CheckPolicyBlocks(policy, path);
                CheckPolicySettings(policy, path);
            }
        }

        private void CheckPolicyBlocks(TailPolicy policy, string path)
        {
            (string Field, TailPolicyType Type, bool Present)[] blocks =
            [
                ("latency", TailPolicyType.Latency, policy.Latency is not null),
                ("statusCode", TailPolicyType.StatusCode, policy.StatusCode is not null),
                ("stringAttribute", TailPolicyType.StringAttribute, policy.StringAttribute is not null),
                ("numericAttribute", TailPolicyType.NumericAttribute, policy.NumericAttribute is not null),
                ("probabilistic", TailPolicyType.Probabilistic, policy.Probabilistic is not null),
                ("spanCount", TailPolicyType.SpanCount, policy.SpanCount is not null),
                ("rateLimiting", TailPolicyType.RateLimiting, policy.RateLimiting is not null),
                ("and", TailPolicyType.And, policy.And is not null),
                ("composite", TailPolicyType.Composite, policy.Composite is not null),
            ];
            foreach (var (field, type, present) in blocks)
            {
                if (type == policy.Type && !present)
                {
                    error(path + "." + field, $"is required for type \"{TypeName(type)}\"");
                }
                else if (type != policy.Type && present)
                {
                    error(path + "." + field, $"does not belong to a policy of type \"{TypeName(policy.Type)}\"");
                }
            }
        }

        private static string TypeName(TailPolicyType type) => JsonShape.EnumNames(typeof(TailPolicyType))[(int)type];

        private void CheckPolicySettings(TailPolicy policy, string path)
        {
            if (policy.Latency is { } latency)
            {
                if (latency.Threshold < TimeSpan.Zero)
                {
                    error(path + ".latency.threshold", "must not be negative");
                }

                if (latency.UpperThreshold is { } upper && upper <= latency.Threshold)
                {
                    error(path + ".latency.upperThreshold", "must be greater than threshold");
                }
            }

            if (policy.StatusCode is { } status)
            {
                if (status.StatusCodes.Count == 0)
                {
                    error(path + ".statusCode.statusCodes", "must list at least one of UNSET, OK, ERROR");
                }

                CheckDistinct(status.StatusCodes, path + ".statusCode.statusCodes", "status code");
            }

            if (policy.StringAttribute is { } strings)
            {
                CheckNotBlank(strings.Key, path + ".stringAttribute.key");
                if (strings.Values.Count == 0)
                {
                    error(path + ".stringAttribute.values", "must list at least one value");
                }

                for (int v = 0; strings.EnabledRegexMatching && v < strings.Values.Count; v++)
                {
                    try
                    {
                        _ = new Regex(strings.Values[v], RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                    }
                    catch (ArgumentException ex)
                    {
                        error(JsonPaths.Index(path + ".stringAttribute.values", v), "invalid regular expression: " + ex.Message);
                    }
                }
            }

            if (policy.NumericAttribute is { } numbers)
            {
                CheckNotBlank(numbers.Key, path + ".numericAttribute.key");
                if (numbers.MinValue is null && numbers.MaxValue is null)
                {
                    error(path + ".numericAttribute", "needs minValue, maxValue or both");
                }
                else if (numbers.MinValue > numbers.MaxValue)
                {
                    error(path + ".numericAttribute.maxValue", "must not be less than minValue");
                }
            }

            if (policy.Probabilistic is { } probabilistic)
            {
                CheckPercentage(probabilistic.SamplingPercentage, path + ".probabilistic.samplingPercentage");
            }

            if (policy.SpanCount is { } count)
            {
                if (count.MinSpans < 1)
                {
                    error(path + ".spanCount.minSpans", "must be at least 1");
                }

                if (count.MaxSpans < count.MinSpans)
                {
                    error(path + ".spanCount.maxSpans", "must not be less than minSpans");
                }
            }

            if (policy.RateLimiting is { SpansPerSecond: <= 0 })
            {
                error(path + ".rateLimiting.spansPerSecond", "must be greater than 0");
            }

            if (policy.And is { } and)
            {
                if (and.Policies.Count == 0)
                {
                    error(path + ".and.policies", "must list at least one policy");
                }

                CheckPolicies(and.Policies, path + ".and.policies", "and");
            }

            if (policy.Composite is { } composite)
            {
                CheckComposite(composite, path + ".composite");
            }
        }

        private void CheckComposite(CompositePolicy composite, string path)
        {
            if (composite.MaxTotalSpansPerSecond <= 0)
            {
                error(path + ".maxTotalSpansPerSecond", "must be greater than 0");
            }

            if (composite.SubPolicies.Count == 0)
            {
                error(path + ".subPolicies", "must list at least one policy");
            }

            CheckPolicies(composite.SubPolicies, path + ".subPolicies", "composite");
            var names = composite.SubPolicies.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            for (int o = 0; o < composite.PolicyOrder.Count; o++)
            {
                if (!names.Contains(composite.PolicyOrder[o]))
                {
                    error(JsonPaths.Index(path + ".policyOrder", o), $"no sub-policy is named \"{composite.PolicyOrder[o]}\"");
                }
            }

            CheckDistinct(composite.PolicyOrder, path + ".policyOrder", "policy name");
            double total = 0;
            var allocated = new HashSet<string>(StringComparer.Ordinal);
            for (int a = 0; a < composite.RateAllocation.Count; a++)
            {
                var allocation = composite.RateAllocation[a];
                string allocationPath = JsonPaths.Index(path + ".rateAllocation", a);
                if (!names.Contains(allocation.Policy))
                {
                    error(allocationPath + ".policy", $"no sub-policy is named \"{allocation.Policy}\"");
                }
                else if (!allocated.Add(allocation.Policy))
                {
                    error(allocationPath + ".policy", $"\"{allocation.Policy}\" already has an allocation");
                }

                CheckPercentage(allocation.Percent, allocationPath + ".percent");
                total += allocation.Percent;
            }

            if (total > 100)
            {
                error(path + ".rateAllocation", $"percents must sum to at most 100, got {total}");
            }
        }
    }
}
