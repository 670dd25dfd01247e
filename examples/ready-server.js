// An HTTP server that tells node-daemonize when it can take requests:
//   node-daemonize start --wait-ready 10s examples/ready-server.js -- --port 8080
// or daemonize({ entry: 'examples/ready-server.js', waitReadyMs: 10_000, ... }).
// The launch returns only after ready(), so the port is open by then; had
// listen() failed (port taken), the launch would fail with the error's
// output instead of reporting a daemon that is not there.
import { createServer } from 'node:http'
import { logger, ready } from 'node-daemonize/daemon'

const log = logger()
const i = process.argv.indexOf('--port')
const port = i > 0 ? Number(process.argv[i + 1]) : 8080

const server = createServer((req, res) => res.end(`hello from pid ${process.pid}\n`))
server.listen(port, '127.0.0.1', () => {
  const { port: bound } = server.address()
  log.info({ port: bound }, `listening on http://127.0.0.1:${bound}`)
  ready()
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
