// --instances N as systemd units: a template, NAME@.service, run as
// NAME@0.service .. NAME@N-1.service. The instance name is the index:
// NODE_DAEMONIZE_INSTANCE=%i, which instance() of node-daemonize/daemon
// returns (with the contract's version beside it, as the launcher sets it).
//
// The sockets stay shared, as the supervisor shares them: one NAME.socket
// (Accept=no, systemd's default) named in every instance's Sockets=.
// systemd passes the same listening fds to every service that names the
// socket unit (systemd.service(5), Sockets=), so the kernel hands each new
// connection to one of the instances waiting in accept, as with start. A
// socket unit activates one service (Service=, which cannot be a template):
// instance 0, started on traffic while it is down; the others are started by
// enable/start only.
import { CONTRACT, CONTRACT_VERSION, envName, INSTANCE } from '../daemon/contract.cjs'
import { environmentWord } from './quote.js'

export interface InstanceUnits {
  /** The template's file name, NAME@.service. */
  template: string
  /** The unit a socket activates: NAME@0.service. */
  activated: string
  /** NAME@0.service .. NAME@N-1.service, for systemctl enable. */
  names: string[]
}

export function instanceUnits(base: string, count: number): InstanceUnits {
  const names = Array.from({ length: count }, (_, i) => `${base}@${i}.service`)
  return { template: `${base}@.service`, activated: names[0], names }
}

/**
 * The template's own [Service] lines: the index (and the contract's version,
 * unless the log file's line sets it already) and, with sockets, Sockets=;
 * and what it means, in comments.
 */
export function instanceLines(
  u: InstanceUnits,
  o: { instances: number | 'max'; sockets: string[]; contractSet: boolean },
  svc: string[],
  note: (t: string) => void,
): void {
  // %i is a specifier systemd expands to the instance name: written as is.
  svc.push(`Environment=${envName(INSTANCE)}=%i${o.contractSet ? '' : ` ${environmentWord(envName(CONTRACT), CONTRACT_VERSION)}`}`)
  const n = u.names.length
  const counted = o.instances === 'max' ? `--instances max (${n}: the CPUs the machine that made this unit may use; on another, as many as its CPUs)` : `--instances ${n}`
  note(
    `${counted}: a template; run instance i as ${u.template.replace('@', `@i`)} (i from 0 to ${n - 1}: instance() returns it from ` +
      `NODE_DAEMONIZE_INSTANCE=%i): systemctl enable --now ${u.names.length > 1 ? `${u.template.replace('@', '@{0..' + String(n - 1) + '}')} (bash)` : u.names[0]}`,
  )
  note('each instance is its own unit: systemd restarts each on its own (Restart=), as the supervisor restarts each instance')
  if (o.sockets.length > 0) {
    svc.push(`Sockets=${o.sockets.join(' ')}`)
    note(
      `--listen: every instance gets the same listening sockets (Sockets=: systemd passes a socket unit's fds to every service that names it; ` +
        `the kernel hands each connection to one instance); traffic while ${u.activated} is down starts it (the sockets' Service=)`,
    )
  }
}
