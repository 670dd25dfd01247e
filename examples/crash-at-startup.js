// A program that dies during start-up, as a missing setting or a taken port
// would make it die. Started with a readiness wait or a start-up grace,
//   node-daemonize start --startup-grace 2s examples/crash-at-startup.js
// the launch fails with the exit code and these lines from the log, instead
// of reporting a daemon that is already gone.
console.log(`starting (pid ${process.pid})`)
console.log('reading configuration')
throw new Error('DATABASE_URL is not set')
