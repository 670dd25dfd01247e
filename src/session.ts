// Session inspection Node lacks. setsid() is deliberately not offered: a
// Node process cannot safely leave its session in-process.
import { native } from './native.js'

/** The session id of pid (0: this process). Throws a SystemError (e.g. ESRCH). */
export function getsid(pid = 0): number {
  return native().getsid(checkPid(pid))
}

/** The process group id of pid (0: this process). Throws a SystemError (e.g. ESRCH). */
export function getpgid(pid = 0): number {
  return native().getpgid(checkPid(pid))
}

function checkPid(pid: number): number {
  if (!Number.isInteger(pid) || pid < 0 || pid > 0x7fffffff) {
    const err = new RangeError(`pid must be an integer >= 0, got ${String(pid)}`) as RangeError & { code: string }
    err.code = 'ERR_OUT_OF_RANGE'
    throw err
  }
  return pid
}
