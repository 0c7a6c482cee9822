// A remote plugin in the shape of Orch8's Node example: Node's own `http2` module, h2c
// (no TLS), one JSON envelope in, the step's output out. Written for Plinth's tests; it is
// a server Plinth's code did not produce. Prints `PORT <n>` once it listens.
//
//   node tests/peers/node_http2_plugin.mjs [PORT] [--tls KEY.pem CERT.pem]
//
// With --tls it serves TLS with ALPN h2 only (Orch8's grpcs://).
import fs from 'node:fs';
import http2 from 'node:http2';

const args = process.argv.slice(2);
const tls = args.indexOf('--tls');
const server = tls >= 0
  ? http2.createSecureServer({ key: fs.readFileSync(args[tls + 1]), cert: fs.readFileSync(args[tls + 2]) })
  : http2.createServer();
const port = Number(tls === 0 ? 0 : args[0] || 0);
let calls = 0;
server.on('stream', (stream, headers) => {
  const path = headers[':path'];
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => {
    calls += 1;
    const reply = (status, body) => {
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(JSON.stringify(body));
    };
    if (headers[':method'] !== 'POST') return reply(405, { error: 'POST only' });
    if (path === '/Stats.Calls') return reply(200, { calls });
    if (path !== '/Scoring.Score') return reply(404, { error: `no method ${path}` });
    let envelope;
    try {
      envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return reply(400, { error: `not JSON: ${e.message}` });
    }
    const text = String((envelope.params || {}).text || '');
    reply(200, {
      score: text.length,
      params: envelope.params,
      instance_id: envelope.instance_id,
      block_id: envelope.block_id,
      attempt: envelope.attempt,
      context: envelope.context,
      content_type: headers['content-type'],
      served_by: 'node-http2',
      tls: tls >= 0,
      port: server.address().port,
    });
  });
});
server.listen(port, '127.0.0.1', () => {
  console.log(`PORT ${server.address().port}`);
});
