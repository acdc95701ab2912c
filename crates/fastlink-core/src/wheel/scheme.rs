//! Where an install puts each kind of file: pip's `Scheme`, pypa/installer's
//! `SchemeDictionaryDestination`.

use std::fmt;
use std::path::{Path, PathBuf};

/// The directories of one environment that a wheel installs into, each an
/// absolute path (for a venv on POSIX: `<venv>/lib/python3.X/site-packages`
/// twice, `<venv>/bin`, `<venv>`, `<venv>/include/site/python3.X/<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    /// Pure-Python modules: the wheel's root when `Root-Is-Purelib: true`.
    pub purelib: PathBuf,
    /// Platform-specific modules: the wheel's root otherwise.
    pub platlib: PathBuf,
    /// Scripts: `.data/scripts/` and the entry points' launchers.
    pub scripts: PathBuf,
    /// Data files: `.data/data/`, relative to the environment's root.
    pub data: PathBuf,
    /// C headers: `.data/headers/`, this distribution's own directory.
    pub headers: PathBuf,
}

/// One directory of a [`Scheme`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SchemeKey {
    /// [`Scheme::purelib`].
    Purelib,
    /// [`Scheme::platlib`].
    Platlib,
    /// [`Scheme::scripts`].
    Scripts,
    /// [`Scheme::data`].
    Data,
    /// [`Scheme::headers`].
    Headers,
}

impl SchemeKey {
    /// The key a `<name>.data/<key>/` directory names, as pip's
    /// `SCHEME_KEYS`; `None` for any other name (pip refuses the wheel).
    pub(crate) fn from_data_dir(name: &str) -> Option<SchemeKey> {
        Some(match name {
            "purelib" => SchemeKey::Purelib,
            "platlib" => SchemeKey::Platlib,
            "scripts" => SchemeKey::Scripts,
            "data" => SchemeKey::Data,
            "headers" => SchemeKey::Headers,
            _ => return None,
        })
    }

    /// The name, as in `<name>.data/<key>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemeKey::Purelib => "purelib",
            SchemeKey::Platlib => "platlib",
            SchemeKey::Scripts => "scripts",
            SchemeKey::Data => "data",
            SchemeKey::Headers => "headers",
        }
    }
}

impl fmt::Display for SchemeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Scheme {
    /// The directory of `key`.
    pub fn dir(&self, key: SchemeKey) -> &Path {
        match key {
            SchemeKey::Purelib => &self.purelib,
            SchemeKey::Platlib => &self.platlib,
            SchemeKey::Scripts => &self.scripts,
            SchemeKey::Data => &self.data,
            SchemeKey::Headers => &self.headers,
        }
    }

    /// Every directory with its key, in [`SchemeKey`]'s order.
    pub(crate) fn dirs(&self) -> [(SchemeKey, &Path); 5] {
        [
            SchemeKey::Purelib,
            SchemeKey::Platlib,
            SchemeKey::Scripts,
            SchemeKey::Data,
            SchemeKey::Headers,
        ]
        .map(|key| (key, self.dir(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_names_are_pips_scheme_keys() {
        for key in ["purelib", "platlib", "scripts", "data", "headers"] {
            assert_eq!(SchemeKey::from_data_dir(key).unwrap().as_str(), key);
        }
        for other in ["lib", "Scripts", "", "include", "purelib/"] {
            assert_eq!(SchemeKey::from_data_dir(other), None, "{other:?}");
        }
    }

    #[test]
    fn dir_follows_the_key() {
        let scheme = Scheme {
            purelib: "/p".into(),
            platlib: "/l".into(),
            scripts: "/s".into(),
            data: "/d".into(),
            headers: "/h".into(),
        };
        let dirs: Vec<_> = scheme
            .dirs()
            .iter()
            .map(|(key, dir)| format!("{key}={}", dir.display()))
            .collect();
        assert_eq!(
            dirs,
            [
                "purelib=/p",
                "platlib=/l",
                "scripts=/s",
                "data=/d",
                "headers=/h"
            ]
        );
    }
}
