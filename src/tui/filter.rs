//! The `/` filter: a regular expression over gateway rows and output lines;
//! a leading `!` keeps what does NOT match.

use regex::Regex;

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    /// What the user typed.
    pub text: String,
    regex: Regex,
    invert: bool,
}

impl Filter {
    /// Compiles `text` (`!pattern` inverts); the error names the problem.
    pub fn new(text: &str) -> Result<Filter, String> {
        let (invert, pattern) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let regex = Regex::new(pattern).map_err(|e| {
            // The regex crate's message spans several lines; keep the gist.
            e.to_string()
                .lines()
                .last()
                .unwrap_or("invalid regular expression")
                .trim()
                .to_owned()
        })?;
        Ok(Filter {
            text: text.to_owned(),
            regex,
            invert,
        })
    }

    /// Whether `line` is kept.
    pub fn keeps(&self, line: &str) -> bool {
        self.regex.is_match(line) != self.invert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_and_invert() {
        let f = Filter::new("gw[01]").unwrap();
        assert!(f.keeps("gw0 popen") && !f.keeps("gw2 ssh"));
        let f = Filter::new("!Traceback").unwrap();
        assert!(f.keeps("→ 42") && !f.keeps("Traceback (most recent call last):"));
        assert!(Filter::new("(").unwrap_err().contains("unclosed"));
    }
}
