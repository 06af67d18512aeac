//! Reading rule files: TOML with spans, so every error names its file and line.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A problem in a rule file, located precisely enough for staff to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    pub path: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.reason)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.reason)
        }
    }
}

/// All problems found while loading the rules, not just the first.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// One rule file's text, kept to turn byte spans into line numbers.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub path: PathBuf,
    pub text: String,
}

impl RuleFile {
    pub fn read(dir: &Path, name: &str) -> Result<Self, RuleError> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| RuleError {
            path: path.clone(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        Ok(Self { path, text })
    }

    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, RuleError> {
        toml::from_str(&self.text).map_err(|e| RuleError {
            path: self.path.clone(),
            line: e.span().map_or(0, |span| self.line_of(span.start)),
            reason: e.message().trim().to_string(),
        })
    }

    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
    }

    pub fn error(&self, span: Range<usize>, reason: impl Into<String>) -> RuleError {
        RuleError {
            path: self.path.clone(),
            line: self.line_of(span.start),
            reason: reason.into(),
        }
    }

    pub fn whole_file_error(&self, reason: impl Into<String>) -> RuleError {
        RuleError {
            path: self.path.clone(),
            line: 0,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_carry_the_line() {
        let file = RuleFile {
            path: "rules/x.toml".into(),
            text: "a = 1\nb = [\n  \"ok\",\n  oops\n]\n".into(),
        };
        let error = file.parse::<toml::Table>().unwrap_err();
        assert_eq!(error.line, 4, "{error}");
        assert!(error.to_string().starts_with("rules/x.toml:4: "), "{error}");
    }
}
