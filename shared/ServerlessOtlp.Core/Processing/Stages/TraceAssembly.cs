using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Pipeline.Sampling;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>Requests rebuilt from spans the tail-sampling stage held back.</summary>
internal static class TraceAssembly
{
    /// <summary>
    /// Builds a request from buffered spans, grouped under their resource and scope. Resources and
    /// scopes are cloned: the shells are shared with spans still waiting, and transforms change the
    /// request in place.
    /// </summary>
    public static ExportTraceServiceRequest Assemble(List<BufferedSpan> spans)
    {
        var request = new ExportTraceServiceRequest();
        var resources = new Dictionary<ResourceSpans, ResourceSpans>(ReferenceEqualityComparer.Instance);
        var scopes = new Dictionary<ScopeSpans, ScopeSpans>(ReferenceEqualityComparer.Instance);
        foreach (var s in spans)
        {
            if (!scopes.TryGetValue(s.Scope, out var scope))
            {
                if (!resources.TryGetValue(s.Resource, out var resource))
                {
                    resource = new ResourceSpans { Resource = s.Resource.Resource?.Clone(), SchemaUrl = s.Resource.SchemaUrl };
                    resources.Add(s.Resource, resource);
                    request.ResourceSpans.Add(resource);
                }

                scope = new ScopeSpans { Scope = s.Scope.Scope?.Clone(), SchemaUrl = s.Scope.SchemaUrl };
                scopes.Add(s.Scope, scope);
                resource.ScopeSpans.Add(scope);
            }

            scope.Spans.Add(s.Span);
        }

        return request;
    }
}
