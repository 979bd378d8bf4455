// The Node runtime's bare ceiling for benchmarks/peers.py: `http.createServer` answering
// every request with a small JSON body, nothing else. PORT names the port; one JSON line
// goes to stdout once it listens.
import { createServer } from 'node:http';

const body = JSON.stringify({ message: 'hello' });
const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
