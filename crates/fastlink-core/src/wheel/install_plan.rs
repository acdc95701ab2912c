//! What installing an unpacked wheel into a [`Scheme`] is, decided before
//! anything is written: the files placed as they are, the files written
//! (rewritten scripts, launchers, INSTALLER, REQUESTED, direct_url.json,
//! RECORD), as pip's `_install_wheel` would leave them.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::entry_points::{self, EntryPoint};
use super::names;
use super::record::{self, Record};
use super::record_out::{self, Row};
use super::scheme::{Scheme, SchemeKey};
use super::scripts;
use crate::error::{Error, Result};

/// How to install: what pip takes from its own process and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// The environment's Python (absolute, UTF-8): the shebang of launchers
    /// and of `#!python` scripts.
    pub interpreter: PathBuf,
    /// The installer's name, written to `INSTALLER` with a `\n` after it.
    pub installer: String,
    /// Write an empty `REQUESTED` (PEP 376: the user asked for this
    /// distribution, it is not only a dependency).
    pub requested: bool,
    /// `direct_url.json`'s text (PEP 610), written as it is, when given.
    pub direct_url: Option<String>,
    /// When the environment holds a distribution of the same name (any
    /// version), replace it as pip does (uninstall by its RECORD, then
    /// install), all or nothing; see [`install_wheel`](crate::install_wheel).
    /// Not set: such an install is refused
    /// ([`ErrorKind::AlreadyInstalled`](crate::ErrorKind::AlreadyInstalled)).
    pub replace: bool,
    /// For a `.whl` file given to
    /// [`install_wheel_files`](crate::install_wheel_files), write
    /// `direct_url.json` as pip does for a wheel file named on its command
    /// line: its `file:` URL and SHA-256 (PEP 610). `direct_url`, when
    /// given, wins; an unpacked tree gets none.
    pub direct_url_of_wheel_file: bool,
    /// The environment's Python version (major, minor), for pip's
    /// versioned launchers: a `pip` console script also gets `pipX` and
    /// `pipX.Y`, `easy_install` gets `easy_install-X.Y`, and the versioned
    /// ones the wheel names (its builder's Python's) are dropped, as pip
    /// does. `None`: the launchers the wheel names, as pypa/installer does.
    pub python_version: Option<(u32, u32)>,
}

impl InstallOptions {
    /// Options for `interpreter`, installer "fastlink", no `REQUESTED`, no
    /// `direct_url.json`, no replacing.
    pub fn new(interpreter: impl Into<PathBuf>) -> Self {
        InstallOptions {
            interpreter: interpreter.into(),
            installer: "fastlink".to_string(),
            requested: false,
            direct_url: None,
            replace: false,
            direct_url_of_wheel_file: false,
            python_version: None,
        }
    }
}

/// A file of the entry that is installed unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFile {
    /// Its path in the entry.
    pub source: PathBuf,
    /// The scheme directory it goes to.
    pub key: SchemeKey,
    /// Its path relative to that directory.
    pub path: PathBuf,
}

/// A file the install writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// The scheme directory it goes to.
    pub key: SchemeKey,
    /// Its path relative to that directory.
    pub path: PathBuf,
    /// Its bytes.
    pub contents: Vec<u8>,
    /// The entry's file it is rewritten from (a `#!python` script), if any.
    pub source: Option<PathBuf>,
    mode: WriteMode,
}

/// The modes pip's writers give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// `open()`: INSTALLER, RECORD, a script the wheel did not mark
    /// executable.
    Default,
    /// distlib's `set_executable_mode` after `open()`: a launcher.
    Launcher,
    /// pip's `set_extracted_file_to_default_mode_plus_executable`: a script
    /// the wheel marked executable.
    Executable,
}

impl WrittenFile {
    /// The mode pip leaves the file with under `umask`: `0o666 & !umask`,
    /// with `| 0o555` for a launcher (distlib's `set_executable_mode`), or
    /// `0o777 & !umask | 0o111` for a script the wheel marks executable.
    pub fn mode(&self, umask: u32) -> u32 {
        match self.mode {
            WriteMode::Default => 0o666 & !umask,
            WriteMode::Launcher => (0o666 & !umask) | 0o555,
            WriteMode::Executable => (0o777 & !umask) | 0o111,
        }
    }

    /// How pip's writer makes it: the mode `open()` creates it with (then
    /// trimmed by the umask, or a default ACL), and the bits a chmod adds
    /// to what that gave. Under a plain umask the result is
    /// [`mode`](Self::mode)'s.
    pub(crate) fn creation(&self) -> (u32, u32) {
        match self.mode {
            WriteMode::Default => (0o666, 0),
            WriteMode::Launcher => (0o666, 0o555),
            WriteMode::Executable => (0o777, 0o111),
        }
    }

    /// Whether it gets exec bits.
    pub fn is_executable(&self) -> bool {
        self.mode != WriteMode::Default
    }
}

/// Everything an install of one unpacked wheel does, from [`plan_install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    /// The distribution's name, from its `.dist-info` directory's name.
    pub name: String,
    /// Its version, likewise.
    pub version: String,
    /// The `.dist-info` directory's name (in the entry, and under the lib
    /// dir).
    pub dist_info: String,
    /// `Root-Is-Purelib: true` in WHEEL: the root goes to purelib, else to
    /// platlib.
    pub root_is_purelib: bool,
    /// The files placed unchanged, sorted by key and path (the path's
    /// bytes, as RECORD sorts them).
    pub placed: Vec<PlacedFile>,
    /// The files written, sorted by key and path (bytes); RECORD among them.
    pub written: Vec<WrittenFile>,
}

impl InstallPlan {
    /// The placed files going to `key`'s directory.
    pub fn placed_in(&self, key: SchemeKey) -> impl Iterator<Item = &PlacedFile> {
        self.placed.iter().filter(move |file| file.key == key)
    }

    /// The written file at `path` in `key`'s directory, if there is one.
    pub fn written_at(&self, key: SchemeKey, path: &Path) -> Option<&WrittenFile> {
        self.written
            .iter()
            .find(|file| file.key == key && file.path == path)
    }
}

/// Plan the install of the unpacked wheel at `entry` (a tree
/// [`unpack_wheel`](crate::unpack_wheel) made) into `scheme`, as pip 26
/// installs a wheel (`--no-compile`: no `.pyc` files):
///
/// - the root goes to purelib when WHEEL says `Root-Is-Purelib: true`, else
///   to platlib; `<x>.data/<key>/<path>` goes to `<key>`'s directory (any
///   other key is an invalid wheel, as for pip);
/// - a `.data/scripts/` file whose first line starts with `#!python` is
///   written with that line replaced by the interpreter's shebang (pip's
///   `fix_script`), keeping whether it is executable; one named like an
///   entry point (`name`, `name.exe`, `name-script.py`, `name.pya`) is left
///   out, as pip leaves setuptools' wrappers out;
/// - a launcher per `[console_scripts]` and `[gui_scripts]` entry point;
/// - `INSTALLER`, `REQUESTED` when asked, `direct_url.json` when given, and
///   RECORD, in the `.dist-info` directory under the lib dir. A file of the
///   wheel at one of those paths is replaced by the generated one.
///
/// The files installed are the ones the entry's RECORD lists (and RECORD's
/// signatures, when the tree has them): an entry
/// [`unpack_wheel`](crate::unpack_wheel) made holds exactly those, and the
/// tree is not walked. A file a tree made otherwise holds beyond them is
/// not installed; one RECORD lists that the tree lacks fails the install
/// (ENOENT), rolled back.
///
/// RECORD lists every installed file by its path relative to the lib dir,
/// pip's rows sorted as pip sorts them: a file placed unchanged keeps the
/// wheel RECORD's hash and size (checked at unpack), a written one gets its
/// own, RECORD has neither. Like pip, an entry-point wrapper left out keeps
/// its row, under its path in the wheel.
///
/// Errors: [`ErrorKind::InvalidWheel`](crate::ErrorKind::InvalidWheel) for
/// an entry whose WHEEL, RECORD or entry_points.txt is wrong, a `.data`
/// file outside a known key, an entry-point name that is not a file name
/// in the scripts directory, or two files for one path;
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a
/// scheme directory or interpreter that is not absolute and UTF-8;
/// [`ErrorKind::Io`](crate::ErrorKind::Io) when the entry cannot be read.
/// Nothing is written.
pub fn plan_install(
    entry: &Path,
    scheme: &Scheme,
    options: &InstallOptions,
) -> Result<InstallPlan> {
    for (key, dir) in scheme.dirs() {
        check_dir(&format!("scheme {key} directory"), dir)?;
    }
    let interpreter = check_dir("interpreter", &options.interpreter)?;
    let bad = |member: Option<&str>, why: String| Error::invalid_wheel(entry, member, why);

    let dist_info = find_dist_info(entry)?;
    let (name, version) = dist_info
        .strip_suffix(".dist-info")
        .and_then(|stem| stem.split_once('-'))
        .ok_or_else(|| bad(Some(&dist_info), "not NAME-VERSION.dist-info".into()))?;
    let read_text = |file: &str| -> Result<Option<String>> {
        let path = entry.join(file);
        match fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| bad(Some(file), "not UTF-8".into())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::io(err, &path, &path)),
        }
    };
    let wheel_name = format!("{dist_info}/WHEEL");
    let wheel = read_text(&wheel_name)?.ok_or_else(|| bad(Some(&wheel_name), "missing".into()))?;
    let root_is_purelib = root_is_purelib(&wheel).map_err(|why| bad(Some(&wheel_name), why))?;
    let record_name = format!("{dist_info}/RECORD");
    let record_text =
        read_text(&record_name)?.ok_or_else(|| bad(Some(&record_name), "missing".into()))?;
    let record: Record = record::parse(&record_text).map_err(|why| bad(Some(&record_name), why))?;
    let files = listed_files(entry, &dist_info, &record)?;
    let entry_points_name = format!("{dist_info}/entry_points.txt");
    let entry_points = match read_text(&entry_points_name)? {
        Some(text) => {
            entry_points::parse(&text).map_err(|why| bad(Some(&entry_points_name), why))?
        }
        None => Vec::new(),
    };

    let lib_key = if root_is_purelib {
        SchemeKey::Purelib
    } else {
        SchemeKey::Platlib
    };
    let lib_dir = normalize(scheme.dir(lib_key));
    // Per key, computed once: a path in the wheel has no `.`, `..` or empty
    // component (a directory walk's names, checked entry-point names), so
    // where it lands is its directory's normalized text, `/`, the path.
    let landings: BTreeMap<SchemeKey, Landing> = scheme
        .dirs()
        .into_iter()
        .map(|(key, dir)| (key, Landing::new(dir, &lib_dir)))
        .collect();
    let record_path = |key: SchemeKey, path: &str| landings[&key].record_path(path);
    let landing_at = |key: SchemeKey, path: &str| landings[&key].at(path);
    let shebang = scripts::shebang(interpreter);

    // Every file by where it lands (normalized), so that two for one path
    // are found; the RECORD row of each. Keyed by text: comparing paths
    // component by component was a third of the plan's time.
    let mut targets: HashMap<String, Target> = HashMap::new();
    let mut kept_rows = Vec::new();
    for (file, executable) in &files {
        if *file == record_name {
            continue;
        }
        let row = |path: String| match record.get(file) {
            Some(expected) => Row {
                path,
                hash: expected
                    .sha256
                    .as_ref()
                    .map_or(String::new(), record_out::hash),
                size: expected.size.map_or(String::new(), |size| size.to_string()),
            },
            None => Row::bare(path),
        };
        if !record::is_record_itself(file, &dist_info)
            && record.get(file).is_none_or(|e| e.sha256.is_none())
        {
            return Err(bad(Some(file), "not in RECORD with a hash".into()));
        }
        let (key, path) = match file.split_once('/') {
            Some((top, rest)) if top.ends_with(".data") => {
                let (key, path) = rest.split_once('/').ok_or_else(|| {
                    bad(
                        Some(file),
                        ".data contents must be <scheme key>/<path>".into(),
                    )
                })?;
                let key = SchemeKey::from_data_dir(key).ok_or_else(|| {
                    bad(Some(file), format!("unknown scheme key {key:?} in .data"))
                })?;
                (key, path)
            }
            _ => (lib_key, file.as_str()),
        };
        let is_script = key == SchemeKey::Scripts;
        if is_script && is_entry_point_wrapper(path, &entry_points) {
            kept_rows.push(row(file.clone()));
            continue;
        }
        let rewritten = if is_script {
            let source = entry.join(file);
            let content = fs::read(&source).map_err(|err| Error::io(err, &source, &source))?;
            scripts::fix_script(&content, &shebang)
        } else {
            None
        };
        let target = Target {
            row: match &rewritten {
                Some(content) => Row::of_content(record_path(key, path), content),
                None => row(record_path(key, path)),
            },
            file: match rewritten {
                Some(contents) => Planned::Written(WrittenFile {
                    key,
                    path: PathBuf::from(path),
                    contents,
                    source: Some(PathBuf::from(file)),
                    mode: if *executable {
                        WriteMode::Executable
                    } else {
                        WriteMode::Default
                    },
                }),
                None => Planned::Placed(PlacedFile {
                    source: PathBuf::from(file),
                    key,
                    path: PathBuf::from(path),
                }),
            },
        };
        if targets.insert(landing_at(key, path), target).is_some() {
            return Err(bad(
                Some(file),
                "another file of the wheel installs to the same path".into(),
            ));
        }
    }

    // The generated files replace whatever the wheel had at their paths.
    let mut generated = Vec::new();
    let launchers = match options.python_version {
        Some(version) => versioned_launchers(&entry_points, version),
        None => entry_points.clone(),
    };
    for entry_point in &launchers {
        generated.push((
            SchemeKey::Scripts,
            entry_point.name.clone(),
            scripts::launcher(&shebang, entry_point),
            WriteMode::Launcher,
        ));
    }
    let in_dist_info = |file: &str| format!("{dist_info}/{file}");
    generated.push((
        lib_key,
        in_dist_info("INSTALLER"),
        format!("{}\n", options.installer).into_bytes(),
        WriteMode::Default,
    ));
    if let Some(direct_url) = &options.direct_url {
        generated.push((
            lib_key,
            in_dist_info("direct_url.json"),
            direct_url.clone().into_bytes(),
            WriteMode::Default,
        ));
    }
    if options.requested {
        generated.push((
            lib_key,
            in_dist_info("REQUESTED"),
            Vec::new(),
            WriteMode::Default,
        ));
    }
    for (key, path, contents, mode) in generated {
        let row = Row::of_content(record_path(key, &path), &contents);
        let file = Planned::Written(WrittenFile {
            key,
            path: PathBuf::from(&path),
            contents,
            source: None,
            mode,
        });
        targets.insert(landing_at(key, &path), Target { row, file });
    }
    let record_out_name = in_dist_info("RECORD");
    targets.remove(&landing_at(lib_key, &record_out_name));

    let mut rows = kept_rows;
    rows.push(Row::bare(record_path(lib_key, &record_out_name)));
    let mut placed = Vec::new();
    let mut written = Vec::new();
    for target in targets.into_values() {
        rows.push(target.row);
        match target.file {
            Planned::Placed(file) => placed.push(file),
            Planned::Written(file) => written.push(file),
        }
    }
    written.push(WrittenFile {
        key: lib_key,
        path: PathBuf::from(&record_out_name),
        contents: record_out::text(rows).into_bytes(),
        source: None,
        mode: WriteMode::Default,
    });
    // By bytes: comparing paths component by component costs more here
    // than all the rest of the sorting.
    placed.sort_by(|a, b| (a.key, a.path.as_os_str()).cmp(&(b.key, b.path.as_os_str())));
    written.sort_by(|a, b| (a.key, a.path.as_os_str()).cmp(&(b.key, b.path.as_os_str())));
    Ok(InstallPlan {
        name: name.to_string(),
        version: version.to_string(),
        dist_info,
        root_is_purelib,
        placed,
        written,
    })
}

/// Where one scheme directory's files land.
struct Landing {
    /// The directory, normalized, as text.
    dir: String,
    /// Its path relative to the lib directory (RECORD's paths), `.` for
    /// the lib directory itself.
    relative: String,
}

impl Landing {
    fn new(dir: &Path, lib_dir: &Path) -> Self {
        let dir = normalize(dir);
        Landing {
            relative: relative(&dir, lib_dir),
            dir: dir.to_string_lossy().into_owned(),
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}/{path}", self.dir)
    }

    fn record_path(&self, path: &str) -> String {
        if self.relative == "." {
            path.to_string()
        } else {
            format!("{}/{path}", self.relative)
        }
    }
}

/// One installed file, before the plan is split into placed and written.
struct Target {
    row: Row,
    file: Planned,
}

enum Planned {
    Placed(PlacedFile),
    Written(WrittenFile),
}

/// `path` as a `&str`, refused unless absolute and UTF-8.
fn check_dir<'a>(what: &str, path: &'a Path) -> Result<&'a str> {
    match path.to_str() {
        Some(text) if path.is_absolute() => Ok(text),
        _ => Err(Error::invalid_argument(format!(
            "{what} {path:?} is not an absolute UTF-8 path"
        ))),
    }
}

/// `Root-Is-Purelib` of WHEEL's text (an email-style header block), after
/// checking `Wheel-Version` as pip does: present, integers, major 1.
fn root_is_purelib(wheel: &str) -> std::result::Result<bool, String> {
    let mut headers: HashMap<String, &str> = HashMap::new();
    for line in wheel.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers
                .entry(key.trim().to_ascii_lowercase())
                .or_insert(value.trim());
        }
    }
    let version = headers
        .get("wheel-version")
        .ok_or("WHEEL is missing Wheel-Version")?;
    let parts: Option<Vec<u64>> = version.split('.').map(|part| part.parse().ok()).collect();
    match parts.as_deref() {
        Some([1, ..]) => {}
        Some([_, ..]) => return Err(format!("Wheel-Version {version} is not 1.x")),
        _ => return Err(format!("invalid Wheel-Version {version:?}")),
    }
    Ok(headers
        .get("root-is-purelib")
        .is_some_and(|value| value.eq_ignore_ascii_case("true")))
}

/// Whether a `.data/scripts/` file at `path` is a setuptools wrapper of an
/// entry point (pip's `is_entrypoint_wrapper`).
fn is_entry_point_wrapper(path: &str, entry_points: &[EntryPoint]) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_lowercase();
    let stem = if lower.ends_with(".exe") || lower.ends_with(".pya") {
        &name[..name.len() - 4]
    } else if lower.ends_with("-script.py") {
        &name[..name.len() - 10]
    } else {
        name
    };
    entry_points.iter().any(|entry| entry.name == stem)
}

/// pip's special case for pip and setuptools (`get_console_script_specs`):
/// console scripts `pip` and `easy_install` get versioned siblings for the
/// environment's Python, and the versioned ones the wheel carries (made for
/// the Python that built it) are dropped. GUI scripts are left as they are.
fn versioned_launchers(entry_points: &[EntryPoint], (major, minor): (u32, u32)) -> Vec<EntryPoint> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let is_x_or_x_y = |s: &str| match s.split_once('.') {
        Some((x, y)) => digits(x) && digits(y),
        None => s.is_empty() || digits(s),
    };
    let console = |name: &str| entry_points.iter().find(|e| !e.gui && e.name == name);
    let named = |entry: &EntryPoint, name: String| EntryPoint {
        name,
        ..entry.clone()
    };
    let mut out = Vec::new();
    let pip = console("pip");
    if let Some(pip) = pip {
        out.push(named(pip, "pip".to_string()));
        out.push(named(pip, format!("pip{major}")));
        out.push(named(pip, format!("pip{major}.{minor}")));
    }
    let easy_install = console("easy_install");
    if let Some(easy_install) = easy_install {
        out.push(named(easy_install, "easy_install".to_string()));
        out.push(named(easy_install, format!("easy_install-{major}.{minor}")));
    }
    for entry in entry_points {
        let dropped = !entry.gui
            && ((pip.is_some() && entry.name.strip_prefix("pip").is_some_and(is_x_or_x_y))
                || (easy_install.is_some()
                    && entry.name.strip_prefix("easy_install").is_some_and(|rest| {
                        rest.is_empty()
                            || rest
                                .strip_prefix('-')
                                .is_some_and(|v| v.contains('.') && is_x_or_x_y(v))
                    })));
        if !dropped {
            out.push(entry.clone());
        }
    }
    out
}

/// Whether `file` (relative to the entry) is in `<name>.data/scripts/`.
fn is_a_data_script(file: &str) -> bool {
    file.split_once('/')
        .is_some_and(|(top, rest)| top.ends_with(".data") && rest.starts_with("scripts/"))
}

/// The entry's one top-level `*.dist-info` directory: one directory
/// listing, not a walk.
pub(super) fn find_dist_info(entry: &Path) -> Result<String> {
    let listing = fs::read_dir(entry).map_err(|err| Error::io(err, entry, entry))?;
    let mut found = Vec::new();
    for item in listing {
        let item = item.map_err(|err| Error::io(err, entry, entry))?;
        let name = item.file_name();
        if let Some(name) = name.to_str().filter(|name| name.ends_with(".dist-info")) {
            found.push(name.to_string());
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::invalid_wheel(entry, None, "no .dist-info directory")),
        _ => Err(Error::invalid_wheel(
            entry,
            None,
            "more than one .dist-info directory",
        )),
    }
}

/// The files to install: those RECORD lists, and RECORD's signatures when
/// the tree has them, sorted, each with whether it has an exec bit (for
/// `.data/scripts` only: the rest are placed with their modes, not
/// written). A tree [`unpack_wheel`](crate::unpack_wheel) made holds
/// exactly these (it checks the archive's members against RECORD), so the
/// tree is not walked: a warm install's planning was mostly that walk.
/// Every name is checked as an archive member's is (no absolute path, `..`,
/// `.`, empty component, backslash or NUL).
fn listed_files(entry: &Path, dist_info: &str, record: &Record) -> Result<Vec<(String, bool)>> {
    let signatures = ["RECORD.jws", "RECORD.p7s"].map(|name| format!("{dist_info}/{name}"));
    let mut files = Vec::with_capacity(record.len() + 1);
    for file in record.keys().chain(signatures.iter().filter(|signature| {
        fs::symlink_metadata(entry.join(signature)).is_ok_and(|meta| meta.is_file())
    })) {
        if let Some(why) = names::why_unsafe(file) {
            return Err(Error::invalid_wheel(entry, Some(file), why));
        }
        let executable = is_a_data_script(file) && {
            let path = entry.join(file);
            let meta = fs::symlink_metadata(&path).map_err(|err| Error::io(err, &path, &path))?;
            meta.permissions().mode() & 0o111 != 0
        };
        files.push((file.clone(), executable));
    }
    files.sort();
    Ok(files)
}

/// `path` (absolute) with `.` and `..` resolved lexically, as Python's
/// `os.path.abspath` does.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `os.path.relpath(path, base)` for two normalized absolute paths,
/// `/`-separated.
fn relative(path: &Path, base: &Path) -> String {
    let path: Vec<_> = path.components().collect();
    let base: Vec<_> = base.components().collect();
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); base.len() - common];
    parts.extend(
        path[common..]
            .iter()
            .map(|part| part.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_gets_launchers_for_the_environment_s_python_and_not_its_builder_s() {
        let eps = entry_points::parse(
            "[console_scripts]\npip = pip._internal.cli.main:cli\npip3 = pip._internal.cli.main:cli\n\
             pip3.12 = pip._internal.cli.main:cli\nother = m:f\n[gui_scripts]\npip9 = m:g\n",
        )
        .unwrap();
        let mut names: Vec<String> = versioned_launchers(&eps, (3, 11))
            .into_iter()
            .map(|e| format!("{}{}", e.name, if e.gui { " (gui)" } else { "" }))
            .collect();
        names.sort();
        assert_eq!(names, ["other", "pip", "pip3", "pip3.11", "pip9 (gui)"]);
        let eps =
            entry_points::parse("[console_scripts]\neasy_install = s:m\neasy_install-3.6 = s:m\n")
                .unwrap();
        let names: Vec<String> = versioned_launchers(&eps, (3, 11))
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["easy_install", "easy_install-3.11"]);
    }

    #[test]
    fn relative_paths_are_pythons_relpath() {
        let lib = Path::new("/v/lib/python3.11/site-packages");
        assert_eq!(relative(&normalize(&lib.join("a/b.py")), lib), "a/b.py");
        assert_eq!(relative(Path::new("/v/bin/x"), lib), "../../../bin/x");
        assert_eq!(
            relative(Path::new("/v/include/site/python3.11/d/h.h"), lib),
            "../../../include/site/python3.11/d/h.h"
        );
        assert_eq!(
            relative(&normalize(Path::new("/v/lib/../bin/./x")), lib),
            "../../../bin/x"
        );
        assert_eq!(relative(lib, lib), ".");
    }

    #[test]
    fn wheel_version_and_root() {
        assert_eq!(
            root_is_purelib("Wheel-Version: 1.0\nRoot-Is-Purelib: True\n"),
            Ok(true)
        );
        assert_eq!(
            root_is_purelib("Wheel-Version: 1.9\nRoot-Is-Purelib: false\n"),
            Ok(false)
        );
        assert_eq!(root_is_purelib("Wheel-Version: 1.0\n"), Ok(false));
        assert!(root_is_purelib("Root-Is-Purelib: true\n").is_err());
        assert!(root_is_purelib("Wheel-Version: 2.0\n").is_err());
        assert!(root_is_purelib("Wheel-Version: one\n").is_err());
    }

    #[test]
    fn wrappers_are_matched_as_pip_does() {
        let eps = entry_points::parse("[console_scripts]\ndemo = m:f\n").unwrap();
        for path in ["demo", "sub/demo", "demo.EXE", "demo-script.py", "demo.pya"] {
            assert!(is_entry_point_wrapper(path, &eps), "{path}");
        }
        for path in ["Demo", "demo.py", "demo2"] {
            assert!(!is_entry_point_wrapper(path, &eps), "{path}");
        }
    }

    #[test]
    fn modes_follow_pips_writers() {
        let file = |mode| WrittenFile {
            key: SchemeKey::Scripts,
            path: "x".into(),
            contents: Vec::new(),
            source: None,
            mode,
        };
        assert_eq!(file(WriteMode::Default).mode(0o022), 0o644);
        assert_eq!(file(WriteMode::Launcher).mode(0o022), 0o755);
        assert_eq!(file(WriteMode::Launcher).mode(0o077), 0o755);
        assert_eq!(file(WriteMode::Executable).mode(0o077), 0o711);
        assert_eq!(file(WriteMode::Executable).mode(0o002), 0o775);
    }
}
