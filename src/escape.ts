// Text that someone else wrote (a daemon's log, a path), made safe to print
// on root's terminal: every character a terminal acts on instead of showing
// is written as a visible escape, so the text cannot move the cursor,
// retitle or clear the window, overwrite what is shown, start another line
// or reorder the line it is on.
//
// - C0 controls U+0000–U+001F (tab and newline too: one line of text stays
//   one line on the screen), DEL and the C1 controls U+0080–U+009F (U+009B
//   is a CSI, U+0085 a new line; terminals that take 8-bit controls obey
//   them) as \xNN;
// - the bidirectional controls (Unicode's Bidi_Control: U+061C, U+200E,
//   U+200F, U+202A–U+202E, U+2066–U+2069), which reorder what follows, and
//   the line and paragraph separators U+2028, U+2029 as \uNNNN.
//
// Everything else is shown as it is, backslashes included: an escape a log
// spells out itself is shown, never obeyed.

const CONTROLS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g

/** The text with every control character (see above) shown as \xNN or \uNNNN. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0)
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}
