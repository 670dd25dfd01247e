// Every relative link in README.md, BENCHMARKS.md and docs/*.md names a file
// or directory of the repository, and every #anchor a heading of the page it
// points at (GitHub's slugs), so that moving a docs page or renaming a
// section cannot leave a dead link behind. Links inside code are not links.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './helpers/caller.js'

const pages = ['README.md', 'BENCHMARKS.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

/** The text of a page without its fenced code blocks and inline code spans. */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '')
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2…; and explicit <a id> anchors. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  const text = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
  for (const [, title] of text.matchAll(/^#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    const plain = title.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    const slug = plain.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    out.add(n === 0 ? slug : `${slug}-${n}`)
  }
  // An explicit anchor (`<a id="x"></a>`), which GitHub keeps as it is.
  for (const [, id] of text.matchAll(/<a id="([^"]+)"><\/a>/g)) out.add(id)
  return out
}

describe('documentation links', () => {
  for (const page of pages) {
    it(`${page}: every relative link and anchor resolves`, () => {
      const text = readFileSync(join(root, page), 'utf8')
      const broken: string[] = []
      for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:
        const [path, anchor] = target.split('#', 2)
        const file = path === '' ? join(root, page) : join(root, dirname(page), path)
        if (!existsSync(file)) {
          broken.push(`${target}: no ${relative(root, file)}`)
          continue
        }
        if (anchor !== undefined && statSync(file).isFile() && file.endsWith('.md')) {
          if (!anchors(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${relative(root, file)}`)
        }
      }
      expect(broken).toEqual([])
    })
  }
})
