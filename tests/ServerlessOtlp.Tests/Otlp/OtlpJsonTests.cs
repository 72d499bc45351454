using System.Buffers;
using System.Text;
using FsCheck.Xunit;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Metrics.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;

namespace ServerlessOtlp.Tests.Otlp;

public class OtlpJsonTests
{
    private const string TraceIdHex = "5b8efff798038103d269b633813fc60c";
    private const string SpanIdHex = "eee19b7ec3c1b174";
    private const string ParentSpanIdHex = "eee19b7ec3c1b173";

    // The opentelemetry-proto examples/trace.json, plus what real senders add: uppercase hex, unknown
    // fields (top level, nested, and an array), an enum by number, int64 as string and as number.
    private const string TraceJson = """
        {
          "resourceSpans": [
            {
              "resource": {
                "attributes": [
                  { "key": "service.name", "value": { "stringValue": "my.service" } }
                ]
              },
              "scopeSpans": [
                {
                  "scope": {
                    "name": "my.library",
                    "version": "1.0.0",
                    "attributes": [
                      { "key": "my.scope.attribute", "value": { "stringValue": "some scope attribute" } }
                    ]
                  },
                  "spans": [
                    {
                      "traceId": "5B8EFFF798038103D269B633813FC60C",
                      "spanId": "EEE19B7EC3C1B174",
                      "parentSpanId": "EEE19B7EC3C1B173",
                      "name": "I'm a server span",
                      "startTimeUnixNano": "1544712660000000000",
                      "endTimeUnixNano": 1544712661000000000,
                      "kind": 2,
                      "futureField": { "nested": [1, 2, { "traceId": "not hex, but unknown here" }] },
                      "attributes": [
                        { "key": "my.span.attr", "value": { "stringValue": "some value" } },
                        { "key": "traceId", "value": { "stringValue": "a key named traceId is just a string" } },
                        { "key": "http.status_code", "value": { "intValue": "200" } },
                        { "key": "retry", "value": { "intValue": 3 } },
                        { "key": "payload", "value": { "bytesValue": "AQID" } }
                      ],
                      "events": [
                        { "timeUnixNano": "1544712660500000000", "name": "an event" }
                      ],
                      "links": [
                        { "traceId": "00000000000000000000000000000001", "spanId": "0000000000000002", "flags": 256 }
                      ],
                      "status": { "code": 2, "message": "boom" }
                    }
                  ]
                }
              ],
              "unknownArray": [true, null, "x"]
            }
          ]
        }
        """;

    // The opentelemetry-proto examples/metrics.json: sum, gauge, histogram, exponential histogram.
    private const string MetricsJson = """
        {
          "resourceMetrics": [
            {
              "resource": {
                "attributes": [ { "key": "service.name", "value": { "stringValue": "my.service" } } ]
              },
              "scopeMetrics": [
                {
                  "scope": { "name": "my.library", "version": "1.0.0" },
                  "metrics": [
                    {
                      "name": "my.counter",
                      "unit": "1",
                      "description": "I am a Counter",
                      "sum": {
                        "aggregationTemporality": 1,
                        "isMonotonic": true,
                        "dataPoints": [
                          {
                            "asDouble": 5,
                            "startTimeUnixNano": "1544712660300000000",
                            "timeUnixNano": "1544712660300000000",
                            "attributes": [ { "key": "my.counter.attr", "value": { "stringValue": "some value" } } ]
                          }
                        ]
                      }
                    },
                    {
                      "name": "my.gauge",
                      "unit": "1",
                      "description": "I am a Gauge",
                      "gauge": {
                        "dataPoints": [
                          {
                            "asInt": "10",
                            "timeUnixNano": "1544712660300000000",
                            "exemplars": [
                              {
                                "timeUnixNano": "1544712660300000000",
                                "asInt": 7,
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174"
                              }
                            ]
                          }
                        ]
                      }
                    },
                    {
                      "name": "my.histogram",
                      "unit": "1",
                      "description": "I am a Histogram",
                      "histogram": {
                        "aggregationTemporality": 1,
                        "dataPoints": [
                          {
                            "startTimeUnixNano": "1544712660300000000",
                            "timeUnixNano": "1544712660300000000",
                            "count": 2,
                            "sum": 2,
                            "bucketCounts": [1, "1"],
                            "explicitBounds": [1],
                            "min": 0,
                            "max": 2
                          }
                        ]
                      }
                    },
                    {
                      "name": "my.exponential.histogram",
                      "unit": "1",
                      "description": "I am an Exponential Histogram",
                      "exponentialHistogram": {
                        "aggregationTemporality": 1,
                        "dataPoints": [
                          {
                            "startTimeUnixNano": "1544712660300000000",
                            "timeUnixNano": "1544712660300000000",
                            "count": "3",
                            "sum": 10,
                            "scale": 0,
                            "zeroCount": 1,
                            "positive": { "offset": 1, "bucketCounts": [0, 2] },
                            "min": 0,
                            "max": 5,
                            "zeroThreshold": 0
                          }
                        ]
                      }
                    }
                  ]
                }
              ]
            }
          ]
        }
        """;

    // The opentelemetry-proto examples/logs.json.
    private const string LogsJson = """
        {
          "resourceLogs": [
            {
              "resource": {
                "attributes": [ { "key": "service.name", "value": { "stringValue": "my.service" } } ]
              },
              "scopeLogs": [
                {
                  "scope": { "name": "my.library", "version": "1.0.0" },
                  "logRecords": [
                    {
                      "timeUnixNano": "1544712660300000000",
                      "observedTimeUnixNano": "1544712660300000000",
                      "severityNumber": 10,
                      "severityText": "Information",
                      "traceId": "5B8EFFF798038103D269B633813FC60C",
                      "spanId": "EEE19B7EC3C1B174",
                      "body": { "stringValue": "Example log record" },
                      "attributes": [
                        { "key": "string.attribute", "value": { "stringValue": "some string" } },
                        { "key": "boolean.attribute", "value": { "boolValue": true } },
                        { "key": "int.attribute", "value": { "intValue": "10" } },
                        { "key": "double.attribute", "value": { "doubleValue": 637.704 } },
                        { "key": "array.attribute", "value": { "arrayValue": { "values": [ { "stringValue": "many" }, { "stringValue": "values" } ] } } },
                        { "key": "map.attribute", "value": { "kvlistValue": { "values": [ { "key": "some.map.key", "value": { "stringValue": "some value" } } ] } } }
                      ]
                    }
                  ]
                }
              ]
            }
          ]
        }
        """;

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static ByteString Hex(string hex) => ByteString.CopyFrom(Convert.FromHexString(hex));

    private static KeyValue Attr(string key, AnyValue value) => new() { Key = key, Value = value };

    private static AnyValue Str(string s) => new() { StringValue = s };

    private static ExportTraceServiceRequest ExpectedTraces()
    {
        var span = new Span
        {
            TraceId = Hex(TraceIdHex),
            SpanId = Hex(SpanIdHex),
            ParentSpanId = Hex(ParentSpanIdHex),
            Name = "I'm a server span",
            StartTimeUnixNano = 1544712660000000000,
            EndTimeUnixNano = 1544712661000000000,
            Kind = Span.Types.SpanKind.Server,
            Status = new Status { Code = Status.Types.StatusCode.Error, Message = "boom" },
        };
        span.Attributes.Add(Attr("my.span.attr", Str("some value")));
        span.Attributes.Add(Attr("traceId", Str("a key named traceId is just a string")));
        span.Attributes.Add(Attr("http.status_code", new AnyValue { IntValue = 200 }));
        span.Attributes.Add(Attr("retry", new AnyValue { IntValue = 3 }));
        span.Attributes.Add(Attr("payload", new AnyValue { BytesValue = ByteString.CopyFrom(1, 2, 3) }));
        span.Events.Add(new Span.Types.Event { TimeUnixNano = 1544712660500000000, Name = "an event" });
        span.Links.Add(new Span.Types.Link
        {
            TraceId = Hex("00000000000000000000000000000001"),
            SpanId = Hex("0000000000000002"),
            Flags = 256,
        });

        var scope = new InstrumentationScope { Name = "my.library", Version = "1.0.0" };
        scope.Attributes.Add(Attr("my.scope.attribute", Str("some scope attribute")));
        var scopeSpans = new ScopeSpans { Scope = scope };
        scopeSpans.Spans.Add(span);
        var resourceSpans = new ResourceSpans { Resource = new Resource() };
        resourceSpans.Resource.Attributes.Add(Attr("service.name", Str("my.service")));
        resourceSpans.ScopeSpans.Add(scopeSpans);
        var request = new ExportTraceServiceRequest();
        request.ResourceSpans.Add(resourceSpans);
        return request;
    }

    private static ExportLogsServiceRequest ExpectedLogs()
    {
        var record = new LogRecord
        {
            TimeUnixNano = 1544712660300000000,
            ObservedTimeUnixNano = 1544712660300000000,
            SeverityNumber = SeverityNumber.Info2,
            SeverityText = "Information",
            TraceId = Hex(TraceIdHex),
            SpanId = Hex(SpanIdHex),
            Body = Str("Example log record"),
        };
        var array = new ArrayValue();
        array.Values.Add(Str("many"));
        array.Values.Add(Str("values"));
        var map = new KeyValueList();
        map.Values.Add(Attr("some.map.key", Str("some value")));
        record.Attributes.Add(Attr("string.attribute", Str("some string")));
        record.Attributes.Add(Attr("boolean.attribute", new AnyValue { BoolValue = true }));
        record.Attributes.Add(Attr("int.attribute", new AnyValue { IntValue = 10 }));
        record.Attributes.Add(Attr("double.attribute", new AnyValue { DoubleValue = 637.704 }));
        record.Attributes.Add(Attr("array.attribute", new AnyValue { ArrayValue = array }));
        record.Attributes.Add(Attr("map.attribute", new AnyValue { KvlistValue = map }));

        var scopeLogs = new ScopeLogs { Scope = new InstrumentationScope { Name = "my.library", Version = "1.0.0" } };
        scopeLogs.LogRecords.Add(record);
        var resourceLogs = new ResourceLogs { Resource = new Resource() };
        resourceLogs.Resource.Attributes.Add(Attr("service.name", Str("my.service")));
        resourceLogs.ScopeLogs.Add(scopeLogs);
        var request = new ExportLogsServiceRequest();
        request.ResourceLogs.Add(resourceLogs);
        return request;
    }

    [Fact]
    public void TraceExampleParsesToTheExpectedMessage()
    {
        var parsed = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(TraceJson));

        Assert.Equal(ExpectedTraces(), parsed);
    }

    [Fact]
    public void LogsExampleParsesToTheExpectedMessage()
    {
        var parsed = OtlpJson.Parse<ExportLogsServiceRequest>(Utf8(LogsJson));

        Assert.Equal(ExpectedLogs(), parsed);
    }

    [Fact]
    public void MetricsExampleParsesWithInt64AsNumbersAndStrings()
    {
        var parsed = OtlpJson.Parse<ExportMetricsServiceRequest>(Utf8(MetricsJson));

        var metrics = parsed.ResourceMetrics[0].ScopeMetrics[0].Metrics;
        Assert.Equal(4, metrics.Count);
        Assert.Equal(AggregationTemporality.Delta, metrics[0].Sum.AggregationTemporality);
        Assert.True(metrics[0].Sum.IsMonotonic);
        Assert.Equal(5.0, metrics[0].Sum.DataPoints[0].AsDouble);
        Assert.Equal(1544712660300000000UL, metrics[0].Sum.DataPoints[0].StartTimeUnixNano);

        var gaugePoint = metrics[1].Gauge.DataPoints[0];
        Assert.Equal(10, gaugePoint.AsInt);
        Assert.Equal(7, gaugePoint.Exemplars[0].AsInt);
        Assert.Equal(Hex(TraceIdHex), gaugePoint.Exemplars[0].TraceId);
        Assert.Equal(Hex(SpanIdHex), gaugePoint.Exemplars[0].SpanId);

        var histogramPoint = metrics[2].Histogram.DataPoints[0];
        Assert.Equal(2UL, histogramPoint.Count);
        Assert.Equal(new ulong[] { 1, 1 }, histogramPoint.BucketCounts);
        Assert.True(histogramPoint.HasMin); // optional field: present although zero
        Assert.Equal(0.0, histogramPoint.Min);

        var exponentialPoint = metrics[3].ExponentialHistogram.DataPoints[0];
        Assert.Equal(3UL, exponentialPoint.Count);
        Assert.Equal(1UL, exponentialPoint.ZeroCount);
        Assert.Equal(new ulong[] { 0, 2 }, exponentialPoint.Positive.BucketCounts);
    }

    [Theory]
    [InlineData(Signal.Traces, TraceJson)]
    [InlineData(Signal.Metrics, MetricsJson)]
    [InlineData(Signal.Logs, LogsJson)]
    public void ExamplesRoundTripThroughProtobufAndBack(Signal signal, string json)
    {
        byte[] protobuf = OtlpJson.JsonToProtobuf(signal, Utf8(json));
        byte[] formatted = OtlpJson.ProtobufToJson(signal, protobuf);
        byte[] again = OtlpJson.JsonToProtobuf(signal, formatted);

        Assert.Equal(Parse(signal, protobuf), Parse(signal, again));
        Assert.DoesNotContain((byte)'\n', formatted);
    }

    private static IMessage Parse(Signal signal, byte[] protobuf) => signal switch
    {
        Signal.Traces => ExportTraceServiceRequest.Parser.ParseFrom(protobuf),
        Signal.Metrics => ExportMetricsServiceRequest.Parser.ParseFrom(protobuf),
        _ => ExportLogsServiceRequest.Parser.ParseFrom(protobuf),
    };

    [Fact]
    public void OutputIsSpecOtlpJson()
    {
        string json = OtlpJson.Format(ExpectedTraces());

        Assert.Contains($"\"traceId\":\"{TraceIdHex}\"", json, StringComparison.Ordinal);
        Assert.Contains($"\"spanId\":\"{SpanIdHex}\"", json, StringComparison.Ordinal);
        Assert.Contains($"\"parentSpanId\":\"{ParentSpanIdHex}\"", json, StringComparison.Ordinal);
        Assert.Contains("\"traceId\":\"00000000000000000000000000000001\"", json, StringComparison.Ordinal); // link
        Assert.Contains("\"kind\":2", json, StringComparison.Ordinal);
        Assert.Contains("\"code\":2", json, StringComparison.Ordinal);
        Assert.Contains("\"startTimeUnixNano\":\"1544712660000000000\"", json, StringComparison.Ordinal);
        Assert.Contains("\"resourceSpans\":[", json, StringComparison.Ordinal);
        Assert.Contains("\"bytesValue\":\"AQID\"", json, StringComparison.Ordinal); // other bytes stay base64
        Assert.Contains("\"key\":\"traceId\",\"value\":{\"stringValue\":\"a key named traceId is just a string\"}", json, StringComparison.Ordinal);
        Assert.DoesNotContain("trace_id", json, StringComparison.Ordinal);
        Assert.DoesNotContain("droppedAttributesCount", json, StringComparison.Ordinal); // defaults omitted
        Assert.DoesNotContain("SPAN_KIND", json, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', json);
        Assert.DoesNotContain(": ", json, StringComparison.Ordinal); // compacted
    }

    [Fact]
    public void StringsWithSpacesQuotesAndNewlinesSurviveCompaction()
    {
        var request = ExpectedTraces();
        request.ResourceSpans[0].ScopeSpans[0].Spans[0].Name = "a \"quoted\" name,\nwith: spaces\\ and \u00e9 and \U0001F600";

        string json = OtlpJson.Format(request);

        Assert.DoesNotContain('\n', json);
        Assert.Equal(request, OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json)));
    }

    [Fact]
    public void LogOutputUsesHexIdsAndIntegerSeverity()
    {
        string json = OtlpJson.Format(ExpectedLogs());

        Assert.Contains($"\"traceId\":\"{TraceIdHex}\"", json, StringComparison.Ordinal);
        Assert.Contains($"\"spanId\":\"{SpanIdHex}\"", json, StringComparison.Ordinal);
        Assert.Contains("\"severityNumber\":10", json, StringComparison.Ordinal);
        Assert.Contains("\"kvlistValue\":{\"values\":[", json, StringComparison.Ordinal);
    }

    [Fact]
    public void ExemplarOutputUsesHexIds()
    {
        var request = OtlpJson.Parse<ExportMetricsServiceRequest>(Utf8(MetricsJson));

        string json = OtlpJson.Format(request);

        Assert.Contains($"\"spanId\":\"{SpanIdHex}\",\"traceId\":\"{TraceIdHex}\"", json, StringComparison.Ordinal);
        Assert.Contains("\"aggregationTemporality\":1", json, StringComparison.Ordinal);
        Assert.Contains("\"bucketCounts\":[\"1\",\"1\"]", json, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteToStreamAndBufferWriterMatchFormat()
    {
        var request = ExpectedTraces();
        string expected = OtlpJson.Format(request);

        using var stream = new MemoryStream();
        OtlpJson.WriteTo(request, stream);
        var bufferWriter = new ArrayBufferWriter<byte>(16);
        OtlpJson.WriteTo(request, bufferWriter);

        Assert.Equal(expected, Encoding.UTF8.GetString(stream.ToArray()));
        Assert.Equal(expected, Encoding.UTF8.GetString(bufferWriter.WrittenSpan));
    }

    [Fact]
    public void UppercaseAndMixedCaseHexAreAccepted()
    {
        const string json = """{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8efff798038103D269B633813FC60C","spanId":"eEe19B7eC3c1b174"}]}]}]}""";

        var span = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json)).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(Hex(TraceIdHex), span.TraceId);
        Assert.Equal(Hex(SpanIdHex), span.SpanId);
    }

    [Fact]
    public void EmptyIdStringIsEmptyBytes()
    {
        const string json = """{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"","spanId":"","body":{"stringValue":"x"}}]}]}]}""";

        var record = OtlpJson.Parse<ExportLogsServiceRequest>(Utf8(json)).ResourceLogs[0].ScopeLogs[0].LogRecords[0];

        Assert.True(record.TraceId.IsEmpty);
        Assert.True(record.SpanId.IsEmpty);
        Assert.DoesNotContain("traceId", OtlpJson.Format(record), StringComparison.Ordinal);
    }

    [Fact]
    public void IdsOfAnyEvenLengthPassThroughForLaterValidation()
    {
        // The gateway rejects spans whose trace_id is not 16 bytes as a partial success, so the codec does not.
        const string json = """{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd","spanId":"0102030405060708"}]}]}]}""";

        var span = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json)).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(Hex("abcd"), span.TraceId);
    }

    [Fact]
    public void EscapedHexAndEscapedPropertyNamesAreUnderstood()
    {
        const string json = """{"resourceSpans":[{"scopeSpans":[{"spans":[{"trace\u0049d":"\u00355b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}""";

        // "\u0035" is '5': the id is one digit too long, hence odd. Drop one digit to make it valid.
        var error = Assert.Throws<OtlpJsonException>(() => OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json)));
        Assert.Contains("odd number of hex digits", error.Message, StringComparison.Ordinal);

        string valid = json.Replace("\\u00355b8e", "\\u0035b8e", StringComparison.Ordinal);
        var span = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(valid)).ResourceSpans[0].ScopeSpans[0].Spans[0];
        Assert.Equal(Hex(TraceIdHex), span.TraceId);
    }

    [Fact]
    public void OriginalProtoFieldNamesAndEnumNamesAreAccepted()
    {
        const string json = """
            {"resource_spans":[{"scope_spans":[{"spans":[{
              "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
              "parent_span_id":"eee19b7ec3c1b173","start_time_unix_nano":"1544712660000000000",
              "kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"}}]}]}]}
            """;

        var span = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json)).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(Hex(TraceIdHex), span.TraceId);
        Assert.Equal(Hex(ParentSpanIdHex), span.ParentSpanId);
        Assert.Equal(1544712660000000000UL, span.StartTimeUnixNano);
        Assert.Equal(Span.Types.SpanKind.Server, span.Kind);
        Assert.Equal(Status.Types.StatusCode.Error, span.Status.Code);
    }

    [Theory]
    [InlineData("1544712660123456789", 1544712660123456789UL)] // above 2^53: a double would round it
    [InlineData("\"1544712660123456789\"", 1544712660123456789UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("\"18446744073709551615\"", ulong.MaxValue)]
    [InlineData("0", 0UL)]
    [InlineData("1e3", 1000UL)]
    public void Int64AcceptsNumbersAndStringsWithoutLosingPrecision(string value, ulong expected)
    {
        string json = $$$"""{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":{{{value}}}}]}]}]}""";

        var span = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json)).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(expected, span.StartTimeUnixNano);
    }

    [Theory]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    [InlineData("-9007199254740993", -9007199254740993L)]
    [InlineData("\"-9007199254740993\"", -9007199254740993L)]
    public void SignedInt64AttributesKeepAllBits(string value, long expected)
    {
        string json = $$$"""{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"intValue":{{{value}}}}}]}]}]}""";

        var record = OtlpJson.Parse<ExportLogsServiceRequest>(Utf8(json)).ResourceLogs[0].ScopeLogs[0].LogRecords[0];

        Assert.Equal(expected, record.Body.IntValue);
    }

    [Fact]
    public void UnknownFieldsAreIgnoredAtEveryLevel()
    {
        const string json = """
            {"partialSuccess":{"x":1},"resourceSpans":[{"newThing":[[[{}]]],
              "resource":{"traceId":"zz-not-hex-but-Resource-has-no-such-field","attributes":[]},
              "scopeSpans":[{"spans":[{"name":"s","novel":{"a":[1,"2",null,true]},"kind":1}]}]}],"trailing":null}
            """;

        var parsed = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json));

        Assert.Equal("s", parsed.ResourceSpans[0].ScopeSpans[0].Spans[0].Name);
        Assert.Equal(Span.Types.SpanKind.Internal, parsed.ResourceSpans[0].ScopeSpans[0].Spans[0].Kind);
    }

    [Fact]
    public void NullMeansDefault()
    {
        const string json = """{"resourceSpans":[{"resource":null,"scopeSpans":[{"spans":[{"name":null,"traceId":null,"attributes":null}]}]}]}""";

        var span = OtlpJson.Parse<ExportTraceServiceRequest>(Utf8(json)).ResourceSpans[0].ScopeSpans[0].Spans[0];

        Assert.Equal(new Span(), span);
    }

    [Fact]
    public void ByteOrderMarkIsAccepted()
    {
        byte[] json = [.. "\uFEFF"u8, .. Utf8(LogsJson)];

        Assert.Equal(ExpectedLogs(), OtlpJson.Parse<ExportLogsServiceRequest>(json));
    }

    [Theory]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}""", "traceId: \"xyz\" has an odd number of hex digits")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc6zz"}]}]}]}""", "traceId: \"5b8efff798038103d269b633813fc6zz\" is not hex")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"eee19b7ec3c1b17"}]}]}]}""", "spanId: \"eee19b7ec3c1b17\" has an odd number of hex digits")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"parentSpanId":"0x01020304"}]}]}]}""", "parentSpanId: \"0x01020304\" is not hex")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"links":[{"traceId":"gg"}]}]}]}]}""", "traceId: \"gg\" is not hex")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":16}]}]}]}""", "traceId: expected a hex string, got a number")]
    public void InvalidHexIsRejected(string json, string message)
    {
        var error = Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Traces, Utf8(json)));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
        Assert.Contains("(line 1 col ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidHexInExemplarsAndLogRecordsIsRejected()
    {
        const string metrics = """{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"exemplars":[{"spanId":"nothex!!"}]}]}}]}]}]}""";
        const string logs = """{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"QUJDRA=="}]}]}]}""";

        Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Metrics, Utf8(metrics)));
        Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Logs, Utf8(logs)));
    }

    [Fact]
    public void InvalidJsonReportsLineAndColumn()
    {
        const string json = "{\n  \"resourceSpans\": [\n    {,\n  ]\n}";

        var error = Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Traces, Utf8(json)));

        Assert.StartsWith("invalid JSON at line 3 col 6", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("[]")]
    [InlineData("\"resourceSpans\"")]
    [InlineData("null")]
    [InlineData("{} {}")]
    [InlineData("{\"resourceSpans\":[],}")]
    [InlineData("{\"resourceSpans\":[] // comment\n}")]
    [InlineData("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"unterminated}]}]}]}")]
    [InlineData("{'resourceSpans':[]}")]
    public void MalformedJsonIsRejected(string json)
    {
        Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Traces, Utf8(json)));
    }

    [Theory]
    [InlineData("""{"resourceSpans":{}}""", "resourceSpans: expected an array, got an object")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}""", "name: expected a string, got a number")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}""", "spans: expected an array, got an object")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":true}]}]}]}""", "startTimeUnixNano: expected an integer or a string, got a boolean")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":[]}]}]}]}""", "kind: expected a number or a string, got an array")]
    [InlineData("""{"resourceSpans":[{"resource":"service"}]}""", "resource: expected an object, got a string")]
    [InlineData("""{"resourceSpans":[null]}""", "resourceSpans: array elements cannot be null")]
    [InlineData("""{"resourceSpans":[[]]}""", "resourceSpans: expected an object, got an array")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"boolValue":"true"}}]}]}]}]}""", "boolValue: expected true or false, got a string")]
    public void WrongTypesAreRejectedWithTheFieldName(string json, string message)
    {
        var error = Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Traces, Utf8(json)));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"abc"}]}]}]}""")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}""")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":1.5}]}]}]}""")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":18446744073709551616}]}]}]}""")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"droppedAttributesCount":-1}]}]}]}""")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"bytesValue":"not base64!"}}]}]}]}]}""")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"stringValue":"a","intValue":1}}]}]}]}]}""")]
    public void InvalidValuesCaughtByGoogleProtobufAreRejected(string json)
    {
        var error = Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Traces, Utf8(json)));

        Assert.StartsWith("invalid OTLP/JSON: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidUtf8IsRejected()
    {
        byte[] json = [.. """{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"""u8, (byte)'"', 0xC3, 0x28, (byte)'"', .. "}]}]}]}"u8];

        Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Traces, json));
    }

    private static string NestedBody(int levels)
    {
        var json = new StringBuilder("""{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":""");
        for (int i = 0; i < levels; i++)
        {
            json.Append(i % 2 == 0 ? """{"arrayValue":{"values":[""" : """{"kvlistValue":{"values":[{"key":"k","value":""");
        }

        json.Append("""{"stringValue":"leaf"}""");
        for (int i = levels - 1; i >= 0; i--)
        {
            json.Append(i % 2 == 0 ? "]}}" : "}]}}");
        }

        json.Append("}]}]}]}");
        return json.ToString();
    }

    [Fact]
    public void ModeratelyNestedAnyValuesAreAccepted()
    {
        var parsed = OtlpJson.Parse<ExportLogsServiceRequest>(Utf8(NestedBody(30)));

        var value = parsed.ResourceLogs[0].ScopeLogs[0].LogRecords[0].Body;
        for (int i = 0; i < 30; i++)
        {
            value = i % 2 == 0 ? value.ArrayValue.Values[0] : value.KvlistValue.Values[0].Value;
        }

        Assert.Equal("leaf", value.StringValue);

        // What we accept, protobuf parsers with default limits accept too.
        byte[] protobuf = parsed.ToByteArray();
        Assert.Equal(parsed, ExportLogsServiceRequest.Parser.ParseFrom(protobuf));
        Assert.Equal(parsed, OtlpJson.Parse<ExportLogsServiceRequest>(OtlpJson.ProtobufToJson(Signal.Logs, protobuf)));
    }

    [Theory]
    [InlineData(40)]
    [InlineData(1_000)]
    [InlineData(100_000)]
    public void DeeplyNestedAnyValuesAreRejectedCleanly(int levels)
    {
        var error = Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Logs, Utf8(NestedBody(levels))));

        Assert.Contains("depth", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeeplyNestedUnknownFieldIsRejectedCleanly()
    {
        string json = "{\"unknown\":" + new string('[', 200_000) + new string(']', 200_000) + "}";

        var error = Assert.Throws<OtlpJsonException>(() => OtlpJson.JsonToProtobuf(Signal.Traces, Utf8(json)));

        Assert.Contains("depth", error.Message, StringComparison.Ordinal);
    }

    [Property(MaxTest = 200)]
    public bool SpansRoundTrip(byte[] traceId, byte[] spanId, ulong start, long intValue, double doubleValue, string name, byte[] payload, int kind)
    {
        var span = new Span
        {
            TraceId = ByteString.CopyFrom(traceId ?? []),
            SpanId = ByteString.CopyFrom(spanId ?? []),
            StartTimeUnixNano = start,
            EndTimeUnixNano = ulong.MaxValue - start,
            Name = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(name ?? "")), // lone surrogates are not valid protobuf strings
            Kind = (Span.Types.SpanKind)(kind & 0xFF),
        };
        span.Attributes.Add(Attr("i", new AnyValue { IntValue = intValue }));
        span.Attributes.Add(Attr("d", new AnyValue { DoubleValue = doubleValue }));
        span.Attributes.Add(Attr("b", new AnyValue { BytesValue = ByteString.CopyFrom(payload ?? []) }));
        var scopeSpans = new ScopeSpans();
        scopeSpans.Spans.Add(span);
        var resourceSpans = new ResourceSpans();
        resourceSpans.ScopeSpans.Add(scopeSpans);
        var request = new ExportTraceServiceRequest();
        request.ResourceSpans.Add(resourceSpans);

        byte[] json = OtlpJson.ProtobufToJson(Signal.Traces, request.ToByteArray());
        var parsed = ExportTraceServiceRequest.Parser.ParseFrom(OtlpJson.JsonToProtobuf(Signal.Traces, json));

        return parsed.Equals(request) && !json.Contains((byte)'\n');
    }
}
