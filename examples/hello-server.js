// A tiny HTTP server to run as a daemon: node-daemonize start examples/hello-server.js -- --port 8080
import { createServer } from 'node:http'

const i = process.argv.indexOf('--port')
const port = i > 0 ? Number(process.argv[i + 1]) : 8080
const server = createServer((req, res) => res.end(`hello from pid ${process.pid}\n`))
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port} (pid ${process.pid})`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
