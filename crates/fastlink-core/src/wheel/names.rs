//! Which member names may become paths in an entry, and the tree they make.
//!
//! All of it is decided from the central directory, before anything is
//! written: a wheel with one bad name leaves nothing behind.

use std::collections::{BTreeSet, HashSet};

/// Why `name` (a member's name, `/`-separated, a trailing `/` for a
/// directory member) cannot become a path inside the entry, if it cannot.
///
/// Refused: an empty name, an absolute one, a backslash (a separator on
/// Windows, so the same wheel would unpack differently there), a NUL, and
/// any empty, `.` or `..` component. What is left can only name a path
/// below the entry.
pub fn why_unsafe(name: &str) -> Option<&'static str> {
    let path = name.strip_suffix('/').unwrap_or(name);
    if path.is_empty() {
        return Some("empty member name");
    }
    if path.starts_with('/') {
        return Some("absolute member name");
    }
    if path.contains('\\') {
        return Some("backslash in member name");
    }
    if path.contains('\0') {
        return Some("NUL in member name");
    }
    for component in path.split('/') {
        match component {
            "" => return Some("empty component in member name"),
            "." | ".." => return Some("'.' or '..' component in member name"),
            _ => {}
        }
    }
    None
}

/// The directories and files the members make, once their names are safe.
#[derive(Debug, Default)]
pub struct Tree {
    /// Every directory to create (named by a member, or above a file), each
    /// after its parent: sorted, a parent sorts before what it holds.
    pub dirs: BTreeSet<String>,
    /// Every file's path, each once.
    files: HashSet<String>,
}

impl Tree {
    /// Add a member; `Err` with the reason when it clashes with another (the
    /// same file twice, or one path both a file and a directory).
    pub fn add(&mut self, name: &str) -> Result<(), &'static str> {
        let (path, is_dir) = match name.strip_suffix('/') {
            Some(dir) => (dir, true),
            None => (name, false),
        };
        if is_dir {
            if self.files.contains(path) {
                return Err("both a file and a directory");
            }
            self.dirs.insert(path.to_string());
        } else {
            if self.dirs.contains(path) {
                return Err("both a file and a directory");
            }
            if !self.files.insert(path.to_string()) {
                return Err("member appears twice");
            }
        }
        // Every ancestor is a directory, so none may be a file.
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            let parent = &path[..end];
            if self.files.contains(parent) {
                return Err("below a member that is a file");
            }
            self.dirs.insert(parent.to_string());
            end += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        for name in [
            "", "/", "/abs", "../x", "a/../b", "a/./b", "./a", "a//b", "a\\b", "a\0b", "..",
        ] {
            assert!(why_unsafe(name).is_some(), "{name:?}");
        }
        for name in [
            "a",
            "a/b",
            "a/",
            "pkg-1.0.dist-info/RECORD",
            "a/..b",
            "...x",
        ] {
            assert_eq!(why_unsafe(name), None, "{name:?}");
        }
    }

    #[test]
    fn a_path_that_is_file_and_directory_clashes() {
        let mut tree = Tree::default();
        tree.add("a/b").unwrap();
        assert!(tree.add("a").is_err());
        assert!(tree.add("a/b/").is_err());
        assert!(tree.add("a/b/c").is_err());
        assert!(tree.add("a/b").is_err());
        tree.add("a/").unwrap();
        let mut tree = Tree::default();
        tree.add("x").unwrap();
        assert!(tree.add("x/").is_err());
    }

    #[test]
    fn parents_come_first() {
        let mut tree = Tree::default();
        tree.add("b/c/d").unwrap();
        tree.add("a-b/x").unwrap();
        let dirs: Vec<_> = tree.dirs.iter().map(String::as_str).collect();
        assert_eq!(dirs, ["a-b", "b", "b/c"]);
    }
}
