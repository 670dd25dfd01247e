// A pause of ms milliseconds on the event loop, like node:timers/promises'
// setTimeout(ms) (a referenced timer, resolves to undefined) without loading
// that module: stop, start and the name lock poll with it, and a command
// that never waits (stop of a name that is not running) then does not
// compile the module at all.
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms)
  })
}
