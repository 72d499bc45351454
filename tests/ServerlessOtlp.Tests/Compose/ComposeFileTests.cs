using System.Text.Json;
using System.Text.RegularExpressions;
using ServerlessOtlp.Gateway.Agents;
using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Gateway;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Compose;

/// <summary>
/// infra/compose cannot run here (no Docker engine), so its own rules are checked on the files:
/// pinned images, the backends profile, ports, every host:port a setting names, the demo tenant
/// file (by the real parser), Grafana's provisioning and dashboard, and the metric names the
/// dashboard queries (scraped from a real gateway's /metrics).
/// </summary>
public sealed partial class ComposeFileTests
{
    /// <summary>The services the backends profile adds: the design's three stores, Grafana, and the tenant file's apply.</summary>
    private static readonly string[] BackendServices = ["jaeger", "prometheus", "loki", "grafana", "tenants-backends"];

    /// <summary>The services `docker compose up` starts without a profile.</summary>
    private static readonly string[] BaseServices = ["azurite", "eventhubs-emulator", "gateway", "runner"];

    private static readonly string TenantFilePath = Path.Combine(ComposeModel.Directory, "tenants.backends.json");
    private static readonly string GrafanaDirectory = Path.Combine(ComposeModel.Directory, "grafana");

    [Fact]
    public void Every_image_is_pinned_to_a_released_version()
    {
        var compose = ComposeModel.Load();
        Assert.All(compose.Services, kv =>
        {
            var (name, service) = (kv.Key, kv.Value);
            bool built = service.ContainsKey("build");
            Assert.True(built ^ service.ContainsKey("image"), $"{name}: exactly one of image or build");
            if (!built)
            {
                string image = (string)service["image"];
                Assert.DoesNotContain("@", image, StringComparison.Ordinal); // a digest is pinned too, but this file uses tags
                int colon = image.LastIndexOf(':');
                Assert.True(colon > image.LastIndexOf('/'), $"{name}: image {image} has no tag (means :latest)");
                string tag = image[(colon + 1)..];
                Assert.Matches(ReleasedTag(), tag);
            }
        });
    }

    [Fact]
    public void Azurite_is_the_version_package_json_pins()
    {
        using var package = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoRoot.Path, "package.json")));
        string pinned = package.RootElement.GetProperty("devDependencies").GetProperty("azurite").GetString()!;
        Assert.Equal("mcr.microsoft.com/azure-storage/azurite:" + pinned, ComposeModel.Load().Services["azurite"]["image"]);
    }

    [Fact]
    public void The_backends_profile_adds_the_stores_and_grafana_and_the_default_project_stays_valid()
    {
        var compose = ComposeModel.Load();
        Assert.Equal(BaseServices.Concat(BackendServices).Order(StringComparer.Ordinal), compose.Services.Keys.Order(StringComparer.Ordinal));
        Assert.All(BackendServices, s => Assert.Equal(["backends"], ComposeModel.Profiles(compose.Services[s])));
        Assert.All(BaseServices, s => Assert.Empty(ComposeModel.Profiles(compose.Services[s])));

        foreach (var (name, service) in compose.Services)
        {
            foreach (var (dependency, required) in ComposeModel.DependsOn(service))
            {
                Assert.True(compose.Services.ContainsKey(dependency), $"{name} depends on undefined service {dependency}");

                // Without the profile a service in it is undefined: a required edge to it from a service
                // outside the profile makes `docker compose up` an invalid project.
                bool hidden = ComposeModel.Profiles(compose.Services[dependency]).Except(ComposeModel.Profiles(service)).Any();
                Assert.False(hidden && required, $"{name} requires {dependency}, which only its profile starts: say required: false");
            }
        }
    }

    [Fact]
    public void Published_host_ports_do_not_collide()
    {
        var published = ComposeModel.Load().Services
            .SelectMany(kv => ComposeModel.PublishedPorts(kv.Value).Select(p => (Service: kv.Key, p.Host)))
            .ToList();
        Assert.NotEmpty(published);
        var collisions = published.GroupBy(p => p.Host).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(p => p.Service))}");
        Assert.Empty(collisions);
    }

    [Fact]
    public void Every_host_and_port_a_setting_names_is_a_service_that_listens_there()
    {
        var compose = ComposeModel.Load();
        var references = new List<(string Where, string Host, int Port)>();

        // Storage and Event Hubs connection strings (environment and --storage flags).
        foreach (var (name, service) in compose.Services)
        {
            string settings = string.Join('\n', ComposeModel.Environment(service).Values.Append(ComposeModel.Command(service)));
            foreach (Match m in ConnectionStringEndpoint().Matches(settings))
            {
                string scheme = m.Groups["scheme"].Value;
                int port = m.Groups["port"].Success ? int.Parse(m.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture)
                    : scheme == "sb" ? 5672 // AMQP: the Event Hubs client's port for UseDevelopmentEmulator
                    : throw new InvalidDataException($"{name}: {m.Value} names no port");
                references.Add(($"{name}: {m.Value}", m.Groups["host"].Value, port));
            }
        }

        // Prometheus' scrape targets.
        var prometheus = (Dictionary<object, object>)ComposeModel.LoadYaml(File.ReadAllText(Path.Combine(ComposeModel.Directory, "prometheus.yml")))!;
        foreach (Dictionary<object, object> job in (List<object>)prometheus["scrape_configs"])
        {
            foreach (Dictionary<object, object> config in (List<object>)job["static_configs"])
            {
                foreach (string target in ((List<object>)config["targets"]).Cast<string>())
                {
                    var uri = new Uri("http://" + target);
                    references.Add(($"prometheus.yml job {job["job_name"]}", uri.Host, uri.Port));
                }
            }
        }

        // Grafana's datasources, and the tenant file's destinations.
        references.AddRange(Datasources().Select(d => ($"grafana datasource {d.Uid}", new Uri(d.Url).Host, new Uri(d.Url).Port)));
        references.AddRange(TenantDestinations().Select(d => ($"tenants.backends.json destination {d.Name}", new Uri(d.Endpoint!).Host, new Uri(d.Endpoint!).Port)));

        Assert.Contains(references, r => r.Host == "azurite");
        Assert.Contains(references, r => r.Host == "eventhubs-emulator");
        Assert.Contains(references, r => r.Host == "gateway");
        Assert.All(references, r =>
        {
            Assert.True(compose.Services.ContainsKey(r.Host), $"{r.Where}: no compose service {r.Host}");
            Assert.True(ComposeModel.ContainerPorts(compose.Services[r.Host]).Contains(r.Port), $"{r.Where}: service {r.Host} does not listen on {r.Port} (ports/expose)");
        });
    }

    [Fact]
    public void The_gateway_listens_where_its_ports_are_published()
    {
        var gateway = ComposeModel.Load().Services["gateway"];
        var env = ComposeModel.Environment(gateway);

        // The image's default is the cloud's single h2c port; locally the two OTLP ports, so it is switched off.
        Assert.Equal("", env["ServerlessOtlp__Gateway__SinglePort"]);
        var listening = new[] { "GrpcPort", "HttpPort", "ManagementPort" }.Select(k => int.Parse(env["ServerlessOtlp__Gateway__" + k], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(listening.Order(), ComposeModel.PublishedPorts(gateway).Select(p => p.Container).Order());
    }

    [Fact]
    public void Bind_mounted_files_exist_and_the_tenant_file_is_the_one_applied()
    {
        var compose = ComposeModel.Load();
        var mounts = compose.Services.SelectMany(kv => ComposeModel.BindMounts(kv.Value).Select(m => (Service: kv.Key, m.Source, m.Target))).ToList();
        Assert.Contains(mounts, m => m.Service == "prometheus");
        Assert.All(mounts, m => Assert.True(File.Exists(m.Source) || System.IO.Directory.Exists(m.Source), $"{m.Service}: {m.Source} does not exist"));

        // tenants-backends runs in the repository mounted at its working directory.
        var apply = compose.Services["tenants-backends"];
        string workingDir = (string)apply["working_dir"];
        var repo = Assert.Single(ComposeModel.BindMounts(apply), m => m.Target == workingDir);
        Assert.Equal(Path.GetFullPath(RepoRoot.Path).TrimEnd('/'), repo.Source.TrimEnd('/'));
        var file = ApplyFileFlag().Match(ComposeModel.Command(apply));
        Assert.True(file.Success, "tenants-backends does not run `tenants apply -f FILE`");
        Assert.Equal(TenantFilePath, Path.GetFullPath(Path.Combine(RepoRoot.Path, file.Groups[1].Value)));
    }

    [Fact]
    public void The_tenant_file_passes_the_real_parser_and_sends_each_signal_to_its_store()
    {
        var warnings = new List<TenantConfigError>();
        var tenant = Assert.Single(TenantFileParser.ParseFile(TenantFilePath, rules: TenantFileRules.Deployment, warnings: warnings).Tenants);
        Assert.Empty(warnings);

        // kind → (service, container port, path): the backends' documented endpoints.
        var expected = new Dictionary<string, (string Service, int Port, string Path)>
        {
            ["otlp"] = ("jaeger", 4317, "/"),
            ["prometheusremotewrite"] = ("prometheus", 9090, "/api/v1/write"),
            ["loki"] = ("loki", 3100, "/loki/api/v1/push"),
        };
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), tenant.Destinations.Select(d => d.Kind).Order(StringComparer.Ordinal));
        Assert.All(tenant.Destinations, d =>
        {
            var uri = new Uri(d.Endpoint!);
            Assert.Equal(expected[d.Kind], (uri.Host, uri.Port, uri.AbsolutePath));
        });
        Assert.Equal([Signal.Traces, Signal.Metrics, Signal.Logs], tenant.Destinations.SelectMany(d => d.Signals).Order());

        // The key the compose file tells users to send with is the tenant's.
        Assert.Contains("x-api-key=" + Assert.Single(tenant.ApiKeys!), ComposeModel.Load().Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Grafana_loads_the_provisioning_and_dashboards_the_compose_file_mounts()
    {
        var grafana = ComposeModel.Load().Services["grafana"];
        var mounts = ComposeModel.BindMounts(grafana);
        var provisioning = Assert.Single(mounts, m => m.Target == "/etc/grafana/provisioning");
        Assert.Equal(Path.Combine(GrafanaDirectory, "provisioning"), provisioning.Source);

        var providers = (Dictionary<object, object>)ComposeModel.LoadYaml(File.ReadAllText(Path.Combine(GrafanaDirectory, "provisioning", "dashboards", "dashboards.yaml")))!;
        var provider = (Dictionary<object, object>)Assert.Single((List<object>)providers["providers"]);
        Assert.Equal("file", provider["type"]);
        string path = (string)((Dictionary<object, object>)provider["options"])["path"];
        var dashboards = Assert.Single(mounts, m => m.Target == path);
        Assert.NotEmpty(System.IO.Directory.GetFiles(dashboards.Source, "*.json"));
    }

    [Fact]
    public void Datasources_are_the_three_stores_and_the_dashboard_uses_only_those()
    {
        var datasources = Datasources();
        Assert.Equal(["jaeger", "loki", "prometheus"], datasources.Select(d => d.Type).Order(StringComparer.Ordinal));
        Assert.Equal(datasources.Count, datasources.Select(d => d.Uid).Distinct(StringComparer.Ordinal).Count());
        var byUid = datasources.ToDictionary(d => d.Uid, d => d.Type, StringComparer.Ordinal);

        var uses = DashboardDatasourceUses().ToList();
        Assert.NotEmpty(uses);
        Assert.All(uses, u =>
        {
            Assert.True(byUid.ContainsKey(u.Uid), $"{u.Where}: datasource uid {u.Uid} is not provisioned");
            Assert.Equal(byUid[u.Uid], u.Type);
        });

        // Each store is shown: the gateway's metrics and the tenant's metrics, logs and traces.
        Assert.Equal(["jaeger", "loki", "prometheus"], uses.Select(u => u.Type).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_dashboard_queries_metrics_the_gateway_serves_on_its_management_port()
    {
        var queried = PrometheusQueries().SelectMany(q => OurMetricName().Matches(q).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("otlp_gateway_items_accepted_total", queried);
        Assert.Contains("otlp_gateway_items_refused_total", queried);
        Assert.Contains("otlp_gateway_request_duration_seconds_bucket", queried);

        var served = await ScrapedMetricNamesAsync();
        Assert.All(queried, name => Assert.True(served.Contains(name), $"the dashboard queries {name}; the gateway's /metrics has: {string.Join(", ", served.Order(StringComparer.Ordinal))}"));
    }

    /// <summary>
    /// What a real gateway's <c>/metrics</c> serves once each of its instruments has a measurement: the
    /// names as the Prometheus exporter writes them (unit suffixes, <c>_total</c>, <c>_bucket</c>…).
    /// </summary>
    private static async Task<HashSet<string>> ScrapedMetricNamesAsync()
    {
        await using var gateway = await TestGateway.StartAsync();
        var metrics = (GatewayMetrics)gateway.App.Services.GetService(typeof(GatewayMetrics))!;
        metrics.Accepted("acme", Signal.Traces, 1);
        metrics.Refused("acme", Signal.Traces, "invalid", 1);
        metrics.RecordRequest(TimeSpan.FromMilliseconds(1), "grpc");
        metrics.RecordAppend(TimeSpan.FromMilliseconds(1), 1, 1, ok: true);
        var opamp = (OpAmpMetrics)gateway.App.Services.GetService(typeof(OpAmpMetrics))!;
        opamp.Request("ok");
        opamp.Storage("read");

        using var http = new HttpClient { BaseAddress = gateway.ManagementUri };
        string text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        return text.Split('\n')
            .Where(line => line.Length > 0 && line[0] != '#')
            .Select(line => line[..line.IndexOfAny(['{', ' '])])
            .ToHashSet(StringComparer.Ordinal);
    }

    private static List<(string Uid, string Type, string Url)> Datasources()
    {
        var file = (Dictionary<object, object>)ComposeModel.LoadYaml(File.ReadAllText(Path.Combine(GrafanaDirectory, "provisioning", "datasources", "datasources.yaml")))!;
        return ((List<object>)file["datasources"]).Cast<Dictionary<object, object>>()
            .Select(d => ((string)d["uid"], (string)d["type"], (string)d["url"]))
            .ToList();
    }

    private static IReadOnlyList<DestinationConfig> TenantDestinations() =>
        TenantFileParser.ParseFile(TenantFilePath, rules: TenantFileRules.Deployment).Tenants.SelectMany(t => t.Destinations).ToList();

    private static JsonElement Dashboard()
    {
        string file = Assert.Single(System.IO.Directory.GetFiles(Path.Combine(GrafanaDirectory, "dashboards"), "*.json"));
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        return doc.RootElement.Clone();
    }

    /// <summary>Panels at any depth (a row's own <c>panels</c> included).</summary>
    private static IEnumerable<JsonElement> Panels(JsonElement container)
    {
        if (!container.TryGetProperty("panels", out var panels))
        {
            yield break;
        }

        foreach (var panel in panels.EnumerateArray())
        {
            yield return panel;
            foreach (var inner in Panels(panel))
            {
                yield return inner;
            }
        }
    }

    /// <summary>Every datasource reference: panels, their targets, template variables.</summary>
    private static IEnumerable<(string Where, string Uid, string Type)> DashboardDatasourceUses()
    {
        var dashboard = Dashboard();
        static (string, string) Ref(JsonElement d) => (d.GetProperty("uid").GetString()!, d.GetProperty("type").GetString()!);
        foreach (var panel in Panels(dashboard))
        {
            string title = panel.GetProperty("title").GetString()!;
            if (panel.GetProperty("type").GetString() == "row")
            {
                continue;
            }

            var (uid, type) = Ref(panel.GetProperty("datasource"));
            yield return ($"panel \"{title}\"", uid, type);
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                (uid, type) = Ref(target.GetProperty("datasource"));
                yield return ($"panel \"{title}\" target {target.GetProperty("refId").GetString()}", uid, type);
            }
        }

        foreach (var variable in dashboard.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.TryGetProperty("datasource", out var d))
            {
                var (uid, type) = Ref(d);
                yield return ($"variable {variable.GetProperty("name").GetString()}", uid, type);
            }
        }
    }

    /// <summary>The PromQL of every Prometheus target and query variable.</summary>
    private static IEnumerable<string> PrometheusQueries()
    {
        var dashboard = Dashboard();
        foreach (var panel in Panels(dashboard).Where(p => p.TryGetProperty("targets", out _)))
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                if (target.GetProperty("datasource").GetProperty("type").GetString() == "prometheus")
                {
                    yield return target.GetProperty("expr").GetString()!;
                }
            }
        }

        foreach (var variable in dashboard.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.TryGetProperty("datasource", out var d) && d.GetProperty("type").GetString() == "prometheus")
            {
                yield return variable.GetProperty("query").GetProperty("query").GetString()!;
            }
        }
    }

    /// <summary>A released version: MAJOR.MINOR.PATCH, optionally with a leading v (Prometheus).</summary>
    [GeneratedRegex(@"^v?\d+\.\d+\.\d+$")]
    private static partial Regex ReleasedTag();

    /// <summary>Our metric names: every instrument the gateway defines starts with otlp_.</summary>
    [GeneratedRegex(@"\botlp_[a-z0-9_]+")]
    private static partial Regex OurMetricName();

    /// <summary>Endpoints inside storage and Event Hubs connection strings.</summary>
    [GeneratedRegex(@"(?:BlobEndpoint|QueueEndpoint|TableEndpoint|Endpoint)=(?<scheme>https?|sb)://(?<host>[A-Za-z0-9.-]+)(?::(?<port>\d+))?")]
    private static partial Regex ConnectionStringEndpoint();

    [GeneratedRegex(@"tenants apply -f (\S+)")]
    private static partial Regex ApplyFileFlag();
}
