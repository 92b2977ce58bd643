//! Strings and bytes: lexing string tokens (every prefix and quote kind)
//! and decoding their escapes.

use super::error::{PResult, err};
use super::lexer::{Lexer, Tok};

impl Lexer<'_> {
    /// A string literal starting at the quote at `self.i`; `prefix` is the
    /// lower-cased prefix and `pos` where it starts.
    pub(super) fn string(&mut self, pos: usize, prefix: &str) -> PResult<()> {
        let raw = prefix.contains('r');
        let is_bytes = prefix.contains('b');
        let Some(quote) = self.peek(0) else {
            return err(pos, "unterminated string literal");
        };
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.i += if triple { 3 } else { 1 };
        // The body, as (char, position) pairs, escapes undecoded.
        let body_start = self.i;
        loop {
            match self.peek(0) {
                None => {
                    let what = if triple {
                        "unterminated triple-quoted string literal"
                    } else {
                        "unterminated string literal"
                    };
                    return err(pos, what);
                }
                Some('\n') if !triple => return err(pos, "unterminated string literal"),
                Some('\\') => {
                    if self.peek(1).is_none() {
                        let what = if triple {
                            "unterminated triple-quoted string literal"
                        } else {
                            "unterminated string literal"
                        };
                        return err(pos, what);
                    }
                    self.i += 2;
                }
                Some(c) if c == quote => {
                    if !triple {
                        break;
                    }
                    if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
                        break;
                    }
                    self.i += 1;
                }
                Some(_) => self.i += 1,
            }
        }
        let body_end = self.i;
        self.i += if triple { 3 } else { 1 };
        let body = &self.s[body_start..body_end];
        if is_bytes {
            if let Some(k) = body.iter().position(|c| !c.is_ascii()) {
                return err(
                    body_start + k,
                    "bytes can only contain ASCII literal characters",
                );
            }
            let bytes = if raw {
                body.iter().map(|&c| c as u8).collect()
            } else {
                decode_bytes(body, body_start)?
            };
            self.push(Tok::Bytes(bytes), pos);
        } else {
            let text = if raw {
                body.iter().collect()
            } else {
                decode_str(body, body_start)?
            };
            self.push(Tok::Str(text), pos);
        }
        Ok(())
    }
}

fn hex_value(body: &[char], at: usize, n: usize) -> Option<u32> {
    let digits = body.get(at..at + n)?;
    digits
        .iter()
        .try_fold(0u32, |acc, c| Some(acc * 16 + c.to_digit(16)?))
}

/// Decodes the escapes shared by str and bytes; `Ok(Some((value, len)))`
/// for a recognised escape at `body[k] == '\\'`, `Ok(None)` when the
/// backslash stays as is.
fn common_escape(
    body: &[char],
    k: usize,
    base: usize,
    is_bytes: bool,
) -> PResult<Option<(u32, usize)>> {
    let Some(&c) = body.get(k + 1) else {
        return Ok(None);
    };
    let simple = match c {
        '\\' => Some('\\' as u32),
        '\'' => Some('\'' as u32),
        '"' => Some('"' as u32),
        'a' => Some(7),
        'b' => Some(8),
        'f' => Some(12),
        'n' => Some(10),
        'r' => Some(13),
        't' => Some(9),
        'v' => Some(11),
        _ => None,
    };
    if let Some(v) = simple {
        return Ok(Some((v, 2)));
    }
    if c.is_digit(8) {
        let mut v = 0u32;
        let mut len = 1;
        while len <= 3 {
            match body.get(k + len).and_then(|c| c.to_digit(8)) {
                Some(d) => {
                    v = v * 8 + d;
                    len += 1;
                }
                None => break,
            }
        }
        return Ok(Some((v, len)));
    }
    if c == 'x' {
        return match hex_value(body, k + 2, 2) {
            Some(v) => Ok(Some((v, 4))),
            None if is_bytes => err(base + k, "invalid \\x escape"),
            None => err(base + k, "truncated \\xXX escape"),
        };
    }
    Ok(None)
}

fn decode_str(body: &[char], base: usize) -> PResult<String> {
    let mut out = String::with_capacity(body.len());
    let mut k = 0;
    while k < body.len() {
        let c = body[k];
        if c != '\\' {
            out.push(c);
            k += 1;
            continue;
        }
        if body.get(k + 1) == Some(&'\n') {
            k += 2;
            continue;
        }
        let decoded = match common_escape(body, k, base, false)? {
            Some(d) => Some(d),
            None => match body.get(k + 1) {
                Some('u') => match hex_value(body, k + 2, 4) {
                    Some(v) => Some((v, 6)),
                    None => return err(base + k, "truncated \\uXXXX escape"),
                },
                Some('U') => match hex_value(body, k + 2, 8) {
                    Some(v) if v > 0x10ffff => return err(base + k, "illegal Unicode character"),
                    Some(v) => Some((v, 10)),
                    None => return err(base + k, "truncated \\UXXXXXXXX escape"),
                },
                Some('N') => {
                    return err(
                        base + k,
                        "\\N{...} escapes are not supported; use \\u or \\U",
                    );
                }
                _ => None,
            },
        };
        match decoded {
            Some((v, len)) => {
                let Some(ch) = char::from_u32(v) else {
                    return err(
                        base + k,
                        format!("lone surrogate \\u{v:04x} cannot be represented"),
                    );
                };
                out.push(ch);
                k += len;
            }
            None => {
                // Unknown escape: the backslash stays (CPython warns).
                out.push('\\');
                k += 1;
            }
        }
    }
    Ok(out)
}

fn decode_bytes(body: &[char], base: usize) -> PResult<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut k = 0;
    while k < body.len() {
        let c = body[k];
        if c != '\\' {
            out.push(c as u8);
            k += 1;
            continue;
        }
        if body.get(k + 1) == Some(&'\n') {
            k += 2;
            continue;
        }
        match common_escape(body, k, base, true)? {
            Some((v, len)) => {
                out.push((v & 0xff) as u8);
                k += len;
            }
            None => {
                out.push(b'\\');
                k += 1;
            }
        }
    }
    Ok(out)
}
