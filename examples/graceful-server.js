// An HTTP server for --respawn --listen --wait-ready: it serves the sockets
// the launcher opened (listenFds()), says ready() once they listen, and
// drains on SIGTERM, so that a graceful restart loses no request:
//   node-daemonize start examples/graceful-server.js --name web --respawn --wait-ready 10s --listen tcp:8080
//   node-daemonize restart --graceful web
import { createServer } from 'node:http'
import { drain, drainable, listenFds, ready } from 'node-daemonize/daemon'

const handler = (req, res) => res.end(`hello from pid ${process.pid}\n`)
const servers = listenFds().map(({ fd }) => drainable(createServer(handler)).listen({ fd }))
await Promise.all(servers.map((s) => new Promise((ok, fail) => s.once('listening', ok).once('error', fail))))
ready() // only once every server listens
process.on('SIGTERM', async () => {
  // stop accepting, answer every request from now on (and those in flight)
  // with Connection: close, let idle keep-alive connections end on their
  // next request or keepAliveTimeout, then exit
  await Promise.all(servers.map((s) => drain(s)))
  process.exit(0)
})
