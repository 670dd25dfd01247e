// The helper's own formatter and parsers (native/text.c), through
// test/fixtures/text-driver.c: bounded appends that never write past the
// buffer, 64-bit edges, checked decimal and hex parsing; and the helper's
// objects, which must call no printf, scanf or strto* function at all.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from '../helpers/caller.js'

const driver = join(root, 'build', 'test', 'text-driver')

function run(...args: (string | number)[]): string {
  const r = spawnSync(driver, args.map(String), { encoding: 'utf8' })
  expect(r.status, r.stdout + r.stderr).toBe(0)
  return r.stdout.replace(/\n$/, '')
}

const fmt = (cap: number, ...ops: (string | number)[]) => run('fmt', cap, ...ops)
const parse = (kind: 'u' | 'i' | 'x' | 'skip', text: string) => run('parse', kind, text)

describe('formatting into a bounded buffer', () => {
  it('cuts at the buffer edge, always NUL-terminated, never past it', () => {
    expect(fmt(8, 's', 'abcdefghij')).toBe('7 abcdefg')
    expect(fmt(1, 's', 'abc', 'i', 5, 'c', 'x')).toBe('0 ')
    expect(fmt(6, 's', 'abc', 'i', 12345)).toBe('5 abc12')
    expect(fmt(6, 's', 'abc', 'u', 12345)).toBe('5 abc12')
    // Once full, later appends change nothing.
    expect(fmt(4, 's', 'abc', 'c', 'd', 's', 'ef', 'i', -1)).toBe('3 abc')
    expect(fmt(5, 's', 'abc', 'c', 'd', 'c', 'e')).toBe('4 abcd')
    expect(fmt(5, 's', 'ab', 'i', -7, 's', 'z')).toBe('4 ab-7')
  })

  it('writes INT_MIN, LLONG_MIN, LLONG_MAX and zero', () => {
    expect(fmt(64, 'i', -2147483648)).toBe('11 -2147483648')
    expect(fmt(64, 'i', '-9223372036854775808')).toBe('20 -9223372036854775808')
    expect(fmt(64, 'i', '9223372036854775807')).toBe('19 9223372036854775807')
    expect(fmt(64, 'i', 0, 'c', ' ', 'u', 0)).toBe('3 0 0')
    expect(fmt(5, 'i', '-9223372036854775808')).toBe('4 -922')
  })

  it('writes the largest unsigned value', () => {
    expect(fmt(64, 'u', '18446744073709551615')).toBe('20 18446744073709551615')
    expect(fmt(20, 'u', '18446744073709551615')).toBe('19 1844674407370955161')
    expect(fmt(21, 'u', '18446744073709551615')).toBe('20 18446744073709551615')
  })

  it('builds /proc paths, cut like any other text', () => {
    expect(run('path', 64, '/proc/', 4194304, '/stat')).toBe('18 /proc/4194304/stat')
    expect(run('path', 64, '/proc/self/task/', 1, '/children')).toBe('26 /proc/self/task/1/children')
    expect(run('path', 10, '/proc/', 4194304, '/stat')).toBe('9 /proc/419')
  })

  it('is byte for byte what snprintf writes, at every buffer size', () => {
    const out = run('compare')
    expect(out).toMatch(/^same \d+$/)
    expect(Number(out.split(' ')[1])).toBeGreaterThan(40000)
  })
})

describe('parsing with overflow checks', () => {
  it('reads decimal up to the largest value and stops at the first non-digit', () => {
    expect(parse('u', '0')).toBe('ok 0 1')
    expect(parse('u', '18446744073709551615')).toBe('ok 18446744073709551615 20')
    expect(parse('u', '4194304 S')).toBe('ok 4194304 7')
    expect(parse('u', '007')).toBe('ok 7 3')
    expect(parse('i', '-9223372036854775808')).toBe('ok -9223372036854775808 20')
    expect(parse('i', '9223372036854775807)')).toBe('ok 9223372036854775807 19')
    expect(parse('i', '+12')).toBe('ok 12 3')
    expect(parse('i', '-1 0')).toBe('ok -1 2')
  })

  it('reads a 64-bit signal mask in hex, either case', () => {
    expect(parse('x', '0000000000004a02\nSigIgn')).toBe('ok 18946 16')
    expect(parse('x', 'ffffffffffffffff')).toBe('ok 18446744073709551615 16')
    expect(parse('x', 'FFFFFFFFFFFFFFFE')).toBe('ok 18446744073709551614 16')
    expect(parse('x', '8000000000000000')).toBe(`ok ${2n ** 63n} 16`)
    // No "0x": the 0 is the number, the x ends it.
    expect(parse('x', '0x10')).toBe('ok 0 1')
  })

  it('rejects junk and overflow, leaving the cursor and the value alone', () => {
    for (const kind of ['u', 'i', 'x'] as const) {
      expect(parse(kind, '')).toBe('reject')
      expect(parse(kind, ' 1')).toBe('reject') // no white space is skipped
      expect(parse(kind, 'z')).toBe('reject')
    }
    expect(parse('u', '-1')).toBe('reject')
    expect(parse('u', '+1')).toBe('reject')
    expect(parse('u', '18446744073709551616')).toBe('reject')
    expect(parse('u', '99999999999999999999999')).toBe('reject')
    expect(parse('i', '9223372036854775808')).toBe('reject')
    expect(parse('i', '-9223372036854775809')).toBe('reject')
    expect(parse('i', '-')).toBe('reject')
    expect(parse('i', '+-1')).toBe('reject')
    expect(parse('x', '10000000000000000')).toBe('reject')
    expect(parse('x', 'g')).toBe('reject')
  })

  it('reads past a field of any length without storing it', () => {
    expect(parse('skip', '123456789012345678901234567890 x')).toBe('ok - 30')
    expect(parse('skip', '-1 0')).toBe('ok - 2')
    expect(parse('skip', '-')).toBe('reject')
    expect(parse('skip', 'x1')).toBe('reject')
  })

  it('skips the white space of isspace() and nothing else', () => {
    expect(run('space', ' \t\n\v\f\rx')).toBe('6')
    expect(run('space', 'x ')).toBe('0')
    expect(run('space', '\u00a0')).toBe('0')
  })
})

describe('the helper links no printf, scanf or strto* of its own', () => {
  it('none is called from its objects, and no scanf is in the binary', () => {
    const dir = join(root, 'build', 'Release', 'obj.target', 'node-daemonize-helper', 'native')
    const objects = readdirSync(dir).filter((f) => f.endsWith('.o'))
    expect(objects).toEqual(expect.arrayContaining(['supervisor.o', 'window.o', 'text.o', 'helper.o']))
    const nm = spawnSync('nm', ['-u', ...objects.map((o) => join(dir, o))], { encoding: 'utf8' })
    expect(nm.status, nm.stderr).toBe(0)
    const called = nm.stdout.split('\n').map((l) => l.trim().split(/\s+/).pop() ?? '')
    expect(called).toContain('write') // nm was read
    expect(called.filter((s) => /printf|scanf|strto/.test(s))).toEqual([])
    // What printf code remains in the static binary is glibc's own (its
    // start-up's assert, malloc): there is no scanf in it anywhere.
    const all = spawnSync('nm', [join(root, 'build', 'Release', 'node-daemonize-helper')], { encoding: 'utf8' })
    expect(all.status, all.stderr).toBe(0)
    expect(all.stdout).toContain(' nd_supervise')
    expect(all.stdout.split('\n').filter((l) => /scanf/.test(l))).toEqual([])
  })
})
