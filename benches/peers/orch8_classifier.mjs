// The text classifier as an Orch8-style remote plugin: Node's own `http2` module, h2c (no
// TLS), `POST /TextClassifier.Classify` with Orch8's envelope `{instance_id, block_id,
// params, context, attempt}`, the step's output as the answer. Prints `PORT <n>` once it
// listens. For the benchmark report only (`cargo xtask bench`).
//
// The classifying is the JavaScript guest's own `tool.call` (guests/js/text-classifier/
// app.js), loaded with its one host import (`log`) resolved to a no-op, so this row and
// the JS guest run the same code.
//
//   node benches/peers/orch8_classifier.mjs [PORT]
import http2 from 'node:http2';
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('plinth:plugin/')) {
    return { url: 'data:text/javascript,export function log() {}', shortCircuit: true };
  }
  return next(specifier, context);
}
// app.js is an ES module in a package without "type": "module"; say so instead of having
// Node guess (and warn).
export async function load(url, context, next) {
  return next(url, url.endsWith('/app.js') ? { ...context, format: 'module' } : context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
const { tool } = await import(new URL('../../guests/js/text-classifier/app.js', import.meta.url));

const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => {
    const reply = (status, body) => {
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(body);
    };
    if (headers[':method'] !== 'POST') return reply(405, '{"error":"POST only"}');
    if (headers[':path'] !== '/TextClassifier.Classify') return reply(404, '{"error":"no such method"}');
    let envelope;
    try {
      envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return reply(400, JSON.stringify({ error: `not JSON: ${e.message}` }));
    }
    try {
      reply(200, tool.call('classify', null, JSON.stringify(envelope.params ?? null)));
    } catch (e) {
      // The guest's error cases as Orch8 reads statuses; anything else is this service's bug.
      const status = { 'not-found': 404, 'invalid-input': 400 }[e.payload?.tag] ?? 500;
      reply(status, JSON.stringify({ error: String(e.payload?.val ?? e) }));
    }
  });
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`PORT ${server.address().port}`);
});
