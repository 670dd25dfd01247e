// This process's effective uid, asked of the kernel each time, except in a
// process that has said it never changes it (the CLI). A module with no
// imports: the dispatcher loads it without the rest of files/checks.ts.

let fixedEuid: number | undefined

/**
 * For a process that never changes its uid (the CLI: commandSetUp()):
 * euid() answers without a syscall from now on. `list` asks it hundreds of
 * times (every file's owner check), each a geteuid(2). The library never
 * calls this: an application may change its euid between two calls.
 */
export function euidIsFixed(): void {
  fixedEuid = process.geteuid?.() ?? -1
}

/** This process's effective uid (-1 where there is none). */
export function euid(): number {
  return fixedEuid ?? process.geteuid?.() ?? -1
}
