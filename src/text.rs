//! Text from a certificate, made safe to print.
//!
//! A subject, SAN or issuer is attacker-chosen bytes: an ESC sequence in a
//! CommonName can move the cursor, recolour or retitle the user's terminal,
//! or hide the rest of a line; a bidi override can make "evil.test" read as
//! something else. Every string taken from a certificate goes through
//! [`escape`] before `verify` or `inspect` prints it, in text and in JSON
//! alike (serde_json escapes C0 controls, but writes C1 controls and bidi
//! overrides as raw UTF-8, which some terminals act on).

use std::fmt::Write;

/// Whether `c` must not reach a terminal as itself: C0 and C1 controls,
/// DEL, bidirectional overrides and isolates, and the zero-width and
/// line/paragraph separators that hide or break text.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `s` with every unsafe character written as visible text: `\x1b` for
/// ASCII controls, `\u{202e}` for the others, and a backslash doubled so
/// the result cannot be mistaken for an escape that was in the input.
pub fn escape(s: &str) -> String {
    if !s.chars().any(|c| is_unsafe(c) || c == '\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if !is_unsafe(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible() {
        assert_eq!(escape("plain.test"), "plain.test");
        assert_eq!(escape("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(escape("x\u{202e}tset"), "x\\u{202e}tset");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("tab\tnl\n"), "tab\\x09nl\\x0a");
        assert_eq!(escape("café"), "café");
        assert!(!escape("\x07\x7f\u{85}").chars().any(is_unsafe));
    }
}
