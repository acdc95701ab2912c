//! What an installer asks for: these wheels, as `.whl` files or as trees
//! already unpacked, installed into one environment in one call. Each `.whl`
//! is unpacked into the cache first ([`unpack_wheel`]), then installed from
//! there ([`install_wheel`]); wheels go in parallel, each all or nothing.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::install::{install_wheel, normalized_name, InstalledDistribution};
use super::install_plan::{find_dist_info, normalize, InstallOptions};
use super::layout::WheelFileName;
use super::scheme::Scheme;
use super::{unpack_wheel, UnpackedWheel};
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::pool::worker_pool;
use crate::progress::Progress;

/// The directories of one environment, for [`install_wheel_files`]: a
/// [`Scheme`] but for the headers, which pip puts in a directory of each
/// distribution's own, below [`include`](Self::include).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// As [`Scheme::purelib`].
    pub purelib: PathBuf,
    /// As [`Scheme::platlib`].
    pub platlib: PathBuf,
    /// As [`Scheme::scripts`].
    pub scripts: PathBuf,
    /// As [`Scheme::data`].
    pub data: PathBuf,
    /// Where each distribution's headers directory is made, as pip's
    /// `get_scheme(name).headers` is `<include>/<name>` (in a venv:
    /// `<venv>/include/site/python3.X`).
    pub include: PathBuf,
}

impl Environment {
    /// The scheme of the distribution `name`, as pip names it for a wheel
    /// file (its file name's first part, `_` read as `-`).
    pub fn scheme_for(&self, name: &str) -> Scheme {
        Scheme {
            purelib: self.purelib.clone(),
            platlib: self.platlib.clone(),
            scripts: self.scripts.clone(),
            data: self.data.clone(),
            headers: self.include.join(name.replace('_', "-")),
        }
    }
}

/// Where the wheels of one [`install_wheel_files`] call go.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// An environment: each distribution's headers in a directory of its own.
    Environment(&'a Environment),
    /// One scheme for every wheel, its headers directory as given (as
    /// pypa/installer's `SchemeDictionaryDestination` takes it).
    Scheme(&'a Scheme),
}

/// What [`install_wheel_files`] did for one wheel.
#[derive(Debug, Clone)]
pub struct WheelFileInstalled {
    /// The wheel as the caller named it: a `.whl` file or an unpacked tree.
    pub wheel: PathBuf,
    /// For a `.whl`, its entry in the cache, and whether this call found it
    /// there (`reused`) or unpacked it. `None` for a tree given as it is.
    pub unpacked: Option<UnpackedWheel>,
    /// The install from the entry (or the tree).
    pub installed: InstalledDistribution,
}

/// Install each of `wheels` into `target`, in parallel on the per-process
/// worker pool (`options.threads` workers): one result per wheel, in the
/// order given.
///
/// A wheel is a `.whl` file, unpacked into `cache_dir` first (made when
/// missing) by [`unpack_wheel`], or a directory holding a tree as
/// [`unpack_wheel`] leaves one, installed as it is. Either way the install
/// is [`install_wheel`]'s, with `install_options` and `options`: all or
/// nothing per wheel, so one failing leaves the others installed, as pip
/// leaves the distributions installed before a failing one. An error that
/// an install raises because the distribution is installed already names
/// the wheel as given (`src()`).
///
/// A cancel stops every wheel that has not reached its own point of no
/// return (RECORD's rename), each rolled back (its result
/// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled)); those past it
/// complete. Each wheel's unpack and install commit only themselves, so the
/// caller can cancel the rest of the batch at any time.
///
/// Refused before anything is read or written (the outer `Err`): a wheel
/// that does not exist (ENOENT, [`ErrorKind::Io`](crate::ErrorKind::Io)),
/// two wheels of one distribution (PEP 503 normalized name), which no
/// environment holds at once, and bad `options`
/// ([`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)).
pub fn install_wheel_files(
    wheels: &[PathBuf],
    cache_dir: &Path,
    target: Target<'_>,
    install_options: &InstallOptions,
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
) -> Result<Vec<Result<WheelFileInstalled>>> {
    let names = distribution_names(wheels)?;
    options.validate_without_default_threads()?;
    let pool = worker_pool(options.threads)?;
    Ok(pool.install(|| {
        wheels
            .par_iter()
            .zip(names.par_iter())
            .map(|(wheel, name)| {
                install_one(
                    wheel,
                    name,
                    cache_dir,
                    target,
                    install_options,
                    options,
                    cancel,
                    progress,
                )
                .map_err(|err| match err.kind() {
                    crate::ErrorKind::AlreadyInstalled => err.with_source(wheel),
                    _ => err,
                })
            })
            .collect()
    }))
}

#[allow(clippy::too_many_arguments)] // install_wheel_files' arguments, one wheel's
fn install_one(
    wheel: &Path,
    name: &DistributionName,
    cache_dir: &Path,
    target: Target<'_>,
    install_options: &InstallOptions,
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
) -> Result<WheelFileInstalled> {
    let (entry, unpacked) = if name.is_entry {
        (wheel.to_path_buf(), None)
    } else {
        // Its commit (the entry renamed into the cache) leaves the rest of
        // the batch cancellable.
        let unpacked = unpack_wheel(wheel, cache_dir, &cancel.for_part())?;
        (unpacked.path.clone(), Some(unpacked))
    };
    let with_direct_url;
    let install_options = match &unpacked {
        Some(unpacked)
            if install_options.direct_url_of_wheel_file && install_options.direct_url.is_none() =>
        {
            with_direct_url = InstallOptions {
                direct_url: Some(direct_url_of_file(wheel, &unpacked.sha256)?),
                ..install_options.clone()
            };
            &with_direct_url
        }
        _ => install_options,
    };
    let scheme = match target {
        Target::Environment(environment) => environment.scheme_for(&name.name),
        Target::Scheme(scheme) => scheme.clone(),
    };
    let installed = install_wheel(&entry, &scheme, install_options, options, cancel, progress)?;
    Ok(WheelFileInstalled {
        wheel: wheel.to_path_buf(),
        unpacked,
        installed,
    })
}

/// `direct_url.json` as pip writes it for the wheel file `wheel` named on
/// its command line (PEP 610): `json.dumps(..., sort_keys=True)` of its
/// `file:` URL (the path made absolute lexically, as `os.path.abspath`, and
/// percent-encoded as `urllib.request.pathname2url`) and its SHA-256.
fn direct_url_of_file(wheel: &Path, sha256: &str) -> Result<String> {
    let absolute = if wheel.is_absolute() {
        normalize(wheel)
    } else {
        let cwd = std::env::current_dir().map_err(|err| Error::io(err, wheel, wheel))?;
        normalize(&cwd.join(wheel))
    };
    let mut url = String::from("file://");
    for &byte in absolute.as_os_str().as_bytes() {
        // urllib.parse.quote's always-safe characters, and "/".
        if byte.is_ascii_alphanumeric() || b"_.-~/".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(format!(
        "{{\"archive_info\": {{\"hash\": \"sha256={sha256}\", \"hashes\": {{\"sha256\": \"{sha256}\"}}}}, \"url\": \"{url}\"}}"
    ))
}

/// A wheel's distribution name, known before anything is read but a
/// directory listing: from a `.whl`'s file name, from a tree's
/// `*.dist-info` directory.
struct DistributionName {
    name: String,
    is_entry: bool,
}

fn distribution_names(wheels: &[PathBuf]) -> Result<Vec<DistributionName>> {
    let mut seen: HashMap<String, &Path> = HashMap::new();
    let mut names = Vec::with_capacity(wheels.len());
    for wheel in wheels {
        let is_entry = fs::metadata(wheel)
            .map_err(|err| Error::on_path(err, wheel))?
            .is_dir();
        let name = if is_entry {
            tree_distribution_name(wheel)?
        } else {
            WheelFileName::parse(wheel)?.name
        };
        if let Some(other) = seen.insert(normalized_name(&name), wheel) {
            return Err(Error::invalid_argument(format!(
                "{} and {} are wheels of one distribution ({name}); an environment holds one \
                 version of it",
                other.display(),
                wheel.display()
            )));
        }
        names.push(DistributionName { name, is_entry });
    }
    Ok(names)
}

/// `NAME` of the tree's one `NAME-VERSION.dist-info` directory, found as
/// the plan finds it.
fn tree_distribution_name(tree: &Path) -> Result<String> {
    let dist_info = find_dist_info(tree)?;
    dist_info
        .strip_suffix(".dist-info")
        .and_then(|stem| stem.split_once('-'))
        .map(|(name, _version)| name.to_string())
        .ok_or_else(|| Error::invalid_wheel(tree, Some(&dist_info), "not NAME-VERSION.dist-info"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_names_the_headers_directory_after_the_file_name_with_dashes() {
        let environment = Environment {
            purelib: "/v/lib".into(),
            platlib: "/v/lib".into(),
            scripts: "/v/bin".into(),
            data: "/v".into(),
            include: "/v/include/site/python3.11".into(),
        };
        assert_eq!(
            environment.scheme_for("pybind11_global").headers,
            Path::new("/v/include/site/python3.11/pybind11-global")
        );
    }

    #[test]
    fn direct_url_json_is_pips_for_a_wheel_file() {
        let sha = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274";
        // What pip 26.3 wrote for `pip install "w x/six-...whl"` run in /tmp/smoke.
        assert_eq!(
            direct_url_of_file(Path::new("/tmp/smoke/./w x/../w x/six-1.17.0-py2.py3-none-any.whl"), sha).unwrap(),
            "{\"archive_info\": {\"hash\": \"sha256=4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\", \
             \"hashes\": {\"sha256\": \"4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\"}}, \
             \"url\": \"file:///tmp/smoke/w%20x/six-1.17.0-py2.py3-none-any.whl\"}"
        );
    }

    #[test]
    fn two_wheels_of_one_distribution_are_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let wheels = [
            dir.path().join("Foo_Bar-1.0-py3-none-any.whl"),
            dir.path().join("foo.bar-2.0-py3-none-any.whl"),
        ];
        for wheel in &wheels {
            fs::write(wheel, b"not read").unwrap();
        }
        let err = distribution_names(&wheels).err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
    }
}
