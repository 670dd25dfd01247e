// The addon for a launch's own steps. native() loads it on first use, and
// that load can fail where a launch runs out of something (under EMFILE the
// dlopen fails too): then it fails as every other step of a launch does, a
// DaemonizeError with its stage.
import { stageError } from './errors.js'
import { native, type Native } from './native.js'

/** native(), or a DaemonizeError at stage 'helper' when the addon cannot be loaded. */
export function addon(): Native {
  try {
    return native()
  } catch (err) {
    throw stageError('helper', 'cannot load the native addon', err)
  }
}
