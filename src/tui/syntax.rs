//! Python syntax colouring for the code editor: a small lexer that gives each
//! character a class (keyword, string, comment, …), and a pass that colours
//! the editor's cells after it has drawn itself.

/// What a character of Python source is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `def`, `if`, `import`, …
    Keyword,
    /// `True`, `False`, `None`, `self`, and builtins like `print`, `len`.
    Builtin,
    /// A string literal, quotes included.
    Str,
    /// A comment.
    Comment,
    /// A number literal.
    Number,
    /// The name after `def` or `class`, or a decorator.
    Def,
}

const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "match",
    "case",
];

const BUILTINS: &[&str] = &[
    "True",
    "False",
    "None",
    "self",
    "print",
    "len",
    "range",
    "int",
    "str",
    "float",
    "bytes",
    "list",
    "dict",
    "set",
    "tuple",
    "frozenset",
    "bool",
    "complex",
    "repr",
    "isinstance",
    "type",
    "open",
    "sum",
    "min",
    "max",
    "sorted",
    "enumerate",
    "zip",
    "map",
    "filter",
    "any",
    "all",
    "abs",
    "channel",
];

/// The class of every character of every line (`None`: plain), for source
/// split in lines. Strings in triple quotes may span lines.
pub fn classify(lines: &[String]) -> Vec<Vec<Option<Class>>> {
    let mut out = Vec::with_capacity(lines.len());
    // The closing quotes of a triple-quoted string still open, if any.
    let mut open_triple: Option<&'static str> = None;
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        let mut classes = vec![None; chars.len()];
        let mut i = 0;
        let mut after_def = false;
        if let Some(close) = open_triple {
            match find(&chars, 0, close) {
                Some(end) => {
                    classes[..end + 3].fill(Some(Class::Str));
                    i = end + 3;
                    open_triple = None;
                }
                None => {
                    classes.fill(Some(Class::Str));
                    out.push(classes);
                    continue;
                }
            }
        }
        while i < chars.len() {
            let c = chars[i];
            if c == '#' {
                classes[i..].fill(Some(Class::Comment));
                break;
            }
            if c == '\'' || c == '"' {
                let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
                if triple {
                    let close = if c == '"' { "\"\"\"" } else { "'''" };
                    match find(&chars, i + 3, close) {
                        Some(end) => {
                            classes[i..end + 3].fill(Some(Class::Str));
                            i = end + 3;
                        }
                        None => {
                            classes[i..].fill(Some(Class::Str));
                            open_triple = Some(close);
                            i = chars.len();
                        }
                    }
                    continue;
                }
                let mut j = i + 1;
                while j < chars.len() && chars[j] != c {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
                let end = (j + 1).min(chars.len());
                classes[i..end].fill(Some(Class::Str));
                i = end;
                continue;
            }
            if c == '@' && chars[..i].iter().all(|c| c.is_whitespace()) {
                let end = word_end(&chars, i + 1, true);
                classes[i..end].fill(Some(Class::Def));
                i = end;
                continue;
            }
            if c.is_ascii_digit() {
                let mut j = i;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
                {
                    j += 1;
                }
                classes[i..j].fill(Some(Class::Number));
                i = j;
                continue;
            }
            if c.is_alphabetic() || c == '_' {
                let end = word_end(&chars, i, false);
                let word: String = chars[i..end].iter().collect();
                // String prefixes: r'..', b"..", f'..', rb'..'.
                if end < chars.len()
                    && (chars[end] == '\'' || chars[end] == '"')
                    && word.len() <= 2
                    && word.chars().all(|c| "rRbBfFuU".contains(c))
                {
                    classes[i..end].fill(Some(Class::Str));
                    i = end;
                    continue;
                }
                let class = if after_def {
                    after_def = false;
                    Some(Class::Def)
                } else if KEYWORDS.contains(&word.as_str()) {
                    after_def = word == "def" || word == "class";
                    Some(Class::Keyword)
                } else if BUILTINS.contains(&word.as_str()) {
                    Some(Class::Builtin)
                } else {
                    None
                };
                classes[i..end].fill(class);
                i = end;
                continue;
            }
            i += 1;
        }
        out.push(classes);
    }
    out
}

/// Where the identifier starting at `from` ends (dotted names too with `dots`).
fn word_end(chars: &[char], from: usize, dots: bool) -> usize {
    let mut j = from;
    while j < chars.len()
        && (chars[j].is_alphanumeric() || chars[j] == '_' || (dots && chars[j] == '.'))
    {
        j += 1;
    }
    j
}

fn find(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len().saturating_sub(needle.len() - 1)).find(|&k| chars[k..].starts_with(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(src: &str) -> Vec<Vec<Option<Class>>> {
        classify(&src.lines().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn keywords_strings_comments_numbers() {
        let c = classes("def f(x):  # note\n    return 'a#b' + 42");
        assert_eq!(c[0][0], Some(Class::Keyword)); // def
        assert_eq!(c[0][4], Some(Class::Def)); // f
        assert_eq!(c[0][5], None); // (
        assert_eq!(c[0][12], Some(Class::Comment));
        assert_eq!(c[1][4], Some(Class::Keyword)); // return
        assert_eq!(c[1][11], Some(Class::Str)); // 'a#b' is a string, not a comment
        assert_eq!(c[1][13], Some(Class::Str));
        assert_eq!(c[1][19], Some(Class::Number));
    }

    #[test]
    fn triple_quoted_strings_span_lines() {
        let c = classes("x = \"\"\"one\ntwo\nthree\"\"\" + None\n@deco");
        assert_eq!(c[0][4], Some(Class::Str));
        assert!(c[1].iter().all(|k| *k == Some(Class::Str)));
        assert_eq!(c[2][7], Some(Class::Str));
        assert_eq!(c[2][11], Some(Class::Builtin));
        assert_eq!(c[3][0], Some(Class::Def));
    }

    #[test]
    fn prefixed_strings_and_escapes() {
        let c = classes("b'\\'' + rf\"x\"");
        assert!(c[0][..4].iter().all(|k| *k == Some(Class::Str)));
        assert_eq!(c[0][5], None);
        assert!(c[0][8..13].iter().all(|k| *k == Some(Class::Str)));
    }
}
