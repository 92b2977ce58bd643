//! Parse errors at a character index, turned into a line and column (and
//! the line's text) only when reported.

/// An error at a char index, converted to line/column at the end.
pub(super) struct PosError {
    pub(super) pos: usize,
    pub(super) message: String,
}

/// A result whose error is at a char index.
pub(super) type PResult<T> = Result<T, PosError>;

/// An error at char index `pos`.
pub(super) fn err<T>(pos: usize, message: impl Into<String>) -> PResult<T> {
    Err(PosError {
        pos,
        message: message.into(),
    })
}

/// A character as an error message names it: quoted, or as `U+XXXX` when
/// it would not show.
pub(super) fn describe(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

/// The 1-based line and column of char index `pos`, and that line's text.
pub(super) fn locate(chars: &[char], pos: usize) -> (usize, usize, String) {
    let pos = pos.min(chars.len());
    let line_start = chars[..pos]
        .iter()
        .rposition(|&c| c == '\n')
        .map_or(0, |i| i + 1);
    let line = chars[..line_start].iter().filter(|&&c| c == '\n').count() + 1;
    let line_end = chars[pos..]
        .iter()
        .position(|&c| c == '\n')
        .map_or(chars.len(), |i| pos + i);
    let text: String = chars[line_start..line_end].iter().collect();
    (line, pos - line_start + 1, text)
}
