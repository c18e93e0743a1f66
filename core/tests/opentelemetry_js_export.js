// Exports one collection of metrics with the OpenTelemetry JS SDK's OTLP/HTTP exporter, which
// sends OTLP/JSON by default, to the URL in argv[2]; prints "exported" once the server
// accepted it. Run by interop_opentelemetry_js with NODE_PATH at the SDK's node_modules.
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const otlp = new OTLPMetricExporter({ url: process.argv[2] });
// The SDK reports a failed export only to its error handler; note each export's result.
const results = [];
const exporter = {
  export: (metrics, done) => otlp.export(metrics, (result) => { results.push(result); done(result); }),
  forceFlush: () => otlp.forceFlush(),
  shutdown: () => otlp.shutdown(),
  selectAggregationTemporality: (kind) => otlp.selectAggregationTemporality(kind),
};
// Exported when flushed below, not on a timer.
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 });
const provider = new MeterProvider({
  resource: resourceFromAttributes({ 'service.name': 'shop', 'service.instance.id': 'node-1', 'deployment.environment': 'test' }),
  readers: [reader],
});
const meter = provider.getMeter('checkout', '1.0.0');
const orders = meter.createCounter('orders.placed', { unit: '{order}', description: 'Orders placed' });
orders.add(5, { region: 'eu' });
orders.add(2, { region: 'us' });
const duration = meter.createHistogram('checkout.duration', { unit: 's', advice: { explicitBucketBoundaries: [0.1, 1, 10] } });
[0.02, 0.3, 1.7].forEach((v) => duration.record(v, { region: 'eu' }));
meter.createGauge('queue.depth').record(12, { queue: 'main' });
meter.createUpDownCounter('sessions.active').add(3);

reader
  .forceFlush()
  .then(() => provider.shutdown())
  .then(() => {
    const failed = results.filter((r) => r.code !== 0);
    if (results.length === 0 || failed.length > 0) {
      console.error('export failed:', results.length === 0 ? 'nothing exported' : failed.map((r) => String(r.error)).join('; '));
      process.exit(1);
    }
    console.log(`exported ${results.length}`);
  })
  .catch((e) => {
    console.error('export failed:', e);
    process.exit(1);
  });
