//! The one place archive paths are judged safe (spec §3).
//!
//! An archive path is relative UTF-8 with `/` separators, no empty, `.` or `..` components, no
//! NUL, at most [`PATH_MAX`] bytes and [`NAME_MAX`] per component. Absolute paths and `..` are
//! `path-escape`; everything else malformed is `path-invalid`.

use crate::container::format::{NAME_MAX, PATH_MAX};
use crate::error::{Error, Result};

/// Checks an archive path against §3.
pub fn validate(path: &str) -> Result<()> {
    let invalid = |why| {
        Err(Error::PathInvalid {
            path: path.to_string(),
            why,
        })
    };
    if path.is_empty() {
        return invalid("empty");
    }
    if path.len() > PATH_MAX {
        return invalid("longer than 4096 bytes");
    }
    if path.starts_with('/') {
        return Err(Error::PathEscape {
            path: path.to_string(),
            why: "absolute",
        });
    }
    if path.contains('\0') {
        return invalid("contains NUL");
    }
    for comp in path.split('/') {
        match comp {
            "" => return invalid("empty component"),
            "." => return invalid("'.' component"),
            ".." => {
                return Err(Error::PathEscape {
                    path: path.to_string(),
                    why: "'..' component",
                })
            }
            c if c.len() > NAME_MAX => return invalid("component longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

/// Parent directory of an archive path, if any (`a/b/c` → `a/b`).
pub fn parent(path: &str) -> Option<&str> {
    path.rfind('/').map(|i| &path[..i])
}

/// All proper ancestors of an archive path, nearest last (`a/b/c` → `a`, `a/b`).
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Cleans a relative input path the way `pack` names entries (§3.1): `./dir/` → `dir`,
/// `.` → empty (the folder's contents). Returns `None` when the path is absolute or has `..`
/// (the caller then uses its last component).
pub fn clean_relative(input: &str) -> Option<String> {
    if input.starts_with('/') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for c in input.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        for (p, class) in [
            ("/etc/passwd", "path-escape"),
            ("a/../../b", "path-escape"),
            ("..", "path-escape"),
            ("", "path-invalid"),
            ("a//b", "path-invalid"),
            ("a/./b", "path-invalid"),
            ("a/", "path-invalid"),
            ("a\0b", "path-invalid"),
        ] {
            assert_eq!(validate(p).unwrap_err().class(), class, "{p:?}");
        }
        assert!(validate(&"x".repeat(256)).is_err());
        assert!(validate(&"x/".repeat(2100)).is_err());
        for p in [
            "a",
            "a/b/c",
            "ünï/cödé ✓",
            "..a",
            "a..",
            ".hidden",
            "back\\slash",
        ] {
            validate(p).unwrap();
        }
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean_relative("./dir/").as_deref(), Some("dir"));
        assert_eq!(clean_relative(".").as_deref(), Some(""));
        assert_eq!(clean_relative("a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(clean_relative("../x"), None);
        assert_eq!(clean_relative("/abs"), None);
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a", "a/b"]);
        assert_eq!(parent("a/b/c"), Some("a/b"));
    }
}

/// Entry selection by the paths a user names (`unpack`, `list`): a plain path selects that
/// entry and everything under it; a pattern with `*`, `?` or `[` is a glob over whole paths
/// (`*` does not cross `/`) and selects what it matches and everything under a directory it
/// matches. Remembers which patterns selected something, so a pattern that matches nothing can
/// be reported (tar's "Not found in archive").
#[derive(Debug, Clone, Default)]
pub struct Selection {
    patterns: Vec<(String, Option<globset::GlobMatcher>)>,
    matched: Vec<bool>,
}

impl Selection {
    /// Compiles the patterns; a malformed glob is a usage error.
    pub fn new(patterns: &[String]) -> crate::Result<Selection> {
        let mut v = Vec::with_capacity(patterns.len());
        for p in patterns {
            let trimmed = p.trim_end_matches('/').to_string();
            let glob = if p.contains(['*', '?', '[']) {
                let g = globset::GlobBuilder::new(&trimmed)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| {
                        crate::Error::InvalidArgument(format!("bad pattern {p:?}: {e}"))
                    })?;
                Some(g.compile_matcher())
            } else {
                None
            };
            v.push((trimmed, glob));
        }
        Ok(Selection {
            matched: vec![false; v.len()],
            patterns: v,
        })
    }

    /// Whether `path` is selected (everything is, with no patterns).
    pub fn selects(&mut self, path: &str) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let mut hit = false;
        for ((p, glob), m) in self.patterns.iter().zip(&mut self.matched) {
            let this = match glob {
                None => {
                    path == p
                        || (path.len() > p.len()
                            && path.starts_with(p.as_str())
                            && path.as_bytes()[p.len()] == b'/')
                }
                // The path itself or any of its ancestors.
                Some(g) => {
                    g.is_match(path) || path.match_indices('/').any(|(i, _)| g.is_match(&path[..i]))
                }
            };
            if this {
                *m = true;
                hit = true;
            }
        }
        hit
    }

    /// The first pattern that selected nothing, as the user wrote it (less trailing `/`).
    pub fn unmatched(&self) -> Option<&str> {
        self.patterns
            .iter()
            .zip(&self.matched)
            .find(|(_, m)| !**m)
            .map(|((p, _), _)| p.as_str())
    }
}

#[cfg(test)]
mod selection_tests {
    use super::Selection;

    #[test]
    fn plain_paths_select_subtrees_and_globs_whole_paths() {
        let mut s = Selection::new(&["src/".into(), "docs/*.md".into(), "t?st".into()]).unwrap();
        assert!(s.selects("src"));
        assert!(s.selects("src/a/b.rs"));
        assert!(!s.selects("srcx/a"));
        assert!(s.selects("docs/a.md"));
        assert!(!s.selects("docs/sub/a.md"), "* does not cross /");
        assert!(
            s.selects("test/inner/file"),
            "a matched directory's subtree"
        );
        assert_eq!(s.unmatched(), None);
        let mut s = Selection::new(&["*.png".into(), "nope".into()]).unwrap();
        assert!(s.selects("a.png"));
        assert!(!s.selects("d/a.png"));
        assert_eq!(s.unmatched(), Some("nope"));
        assert!(Selection::new(&["[".into()]).is_err());
        assert!(Selection::new(&[]).unwrap().selects("anything"));
    }
}

/// The escape form of a name that is not UTF-8 (spec §4.2.4): valid UTF-8 runs as they are
/// with each `\` doubled, every byte of an invalid sequence as `\xHH` (lowercase hex). It is
/// UTF-8, keeps `/` and `.` (so the §3 rules read it as they read the name), and is injective.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        for byte in chunk.invalid() {
            s.push_str(&format!("\\x{byte:02x}"));
        }
    }
    s
}

/// An entry's path or target in the escape form whatever its flag: as stored under flag bit 2
/// (`escaped`), else the plain name with its backslashes doubled. What the extractor and the
/// mount work with, so that names that are not UTF-8 are not a case apart.
pub fn spelled(escaped: bool, s: &str) -> std::borrow::Cow<'_, str> {
    if escaped || !s.contains('\\') {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(escape_bytes(s.as_bytes()))
    }
}

/// The bytes an escape form stands for; `None` for a `\` not followed by `\` or `x` and two
/// lowercase hex digits.
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = |c: u8| match c {
                    b'0'..=b'9' => Some(c - b'0'),
                    b'a'..=b'f' => Some(c - b'a' + 10),
                    _ => None,
                };
                let hi = hex(*b.get(i + 2)?)?;
                let lo = hex(*b.get(i + 3)?)?;
                out.push(hi << 4 | lo);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `s` is the escape form of the bytes it stands for: the only form a writer may store
/// with entry flag bit 2 (spec §4.2.4), so one name has one spelling.
pub fn is_canonical_escape(s: &str) -> bool {
    unescape(s).is_some_and(|b| escape_bytes(&b) == s)
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn the_escape_is_reversible_and_canonical() {
        let raw = b"caf\xe9/a\\b/\xff\xfe.txt";
        let s = escape_bytes(raw);
        assert_eq!(s, "caf\\xe9/a\\\\b/\\xff\\xfe.txt");
        assert_eq!(unescape(&s).unwrap(), raw);
        assert!(is_canonical_escape(&s));
        // A byte of valid UTF-8 escaped, an unknown escape, a short one: refused.
        assert!(!is_canonical_escape("\\xc3\\xa9"));
        assert!(unescape("a\\qb").is_none());
        assert!(unescape("a\\x4").is_none());
        assert!(unescape("a\\xAB").is_none());
        assert_eq!(escape_bytes("plain é".as_bytes()), "plain é");
    }
}
