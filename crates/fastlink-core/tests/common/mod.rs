//! Test helpers the wheel tests share: a wheel builder (the zip crate's
//! writer, a correct RECORD), a venv-like scheme, the demo wheel's members,
//! and a real venv with its pip to compare with.
#![allow(dead_code)] // each test binary uses a part

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fastlink_core::{unpack_wheel, CancelFlag, Scheme};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

/// A file of a test wheel: name, content, executable.
pub type Member = (&'static str, Vec<u8>, bool);

pub fn file(name: &'static str, data: &str) -> Member {
    (name, data.as_bytes().to_vec(), false)
}

/// RECORD's hash of `data`: `sha256=<urlsafe base64, unpadded>`.
pub fn hash(data: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(data)))
}

/// Python's csv quoting of one RECORD path.
pub fn csv_field(field: &str) -> String {
    if field.contains([',', '"']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Write `<dir>/<name>-1.0-py3-none-any.whl` holding `members`, WHEEL (with
/// `root_is_purelib`) and a correct RECORD.
pub fn write_wheel(dir: &Path, name: &str, root_is_purelib: bool, members: &[Member]) -> PathBuf {
    write_wheel_version(dir, name, "1.0", root_is_purelib, members)
}

/// [`write_wheel`] of any version.
pub fn write_wheel_version(
    dir: &Path,
    name: &str,
    version: &str,
    root_is_purelib: bool,
    members: &[Member],
) -> PathBuf {
    let path = dir.join(format!("{name}-{version}-py3-none-any.whl"));
    let dist_info = format!("{name}-{version}.dist-info");
    let wheel = format!(
        "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: {root_is_purelib}\nTag: py3-none-any\n"
    );
    let mut all: Vec<(String, Vec<u8>, bool)> = members
        .iter()
        .map(|(name, data, exec)| (name.to_string(), data.clone(), *exec))
        .collect();
    all.push((format!("{dist_info}/WHEEL"), wheel.into_bytes(), false));
    all.push((
        format!("{dist_info}/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
        false,
    ));
    let mut zip = ZipWriter::new(fs::File::create(&path).unwrap());
    let mut record = String::new();
    for (member, data, exec) in &all {
        let options =
            SimpleFileOptions::default().unix_permissions(if *exec { 0o755 } else { 0o644 });
        zip.start_file(member.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
        record += &format!("{},{},{}\n", csv_field(member), hash(data), data.len());
    }
    record += &format!("{dist_info}/RECORD,,\n");
    zip.start_file(format!("{dist_info}/RECORD"), SimpleFileOptions::default())
        .unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap();
    path
}

/// `wheel` unpacked into `<tmp>/cache`: its entry.
pub fn unpack(tmp: &Path, wheel: &Path) -> PathBuf {
    unpack_wheel(wheel, &tmp.join("cache"), &CancelFlag::new())
        .unwrap()
        .path
}

/// A wheel of `name` `version` (`Root-Is-Purelib: true`) holding
/// `members`, written and unpacked under `tmp`: its entry.
pub fn unpacked_wheel(tmp: &Path, name: &str, version: &str, members: &[Member]) -> PathBuf {
    let wheels = tmp.join("wheels");
    fs::create_dir_all(&wheels).unwrap();
    let wheel = write_wheel_version(&wheels, name, version, true, members);
    unpack(tmp, &wheel)
}

/// An environment under `root` ([`scheme`] for "demo"): `bin/` with a file
/// of its own, a lib dir with a module of its own.
pub fn environment(root: &Path) -> Scheme {
    let scheme = scheme(root, "demo");
    fs::create_dir_all(&scheme.purelib).unwrap();
    fs::write(scheme.purelib.join("other.py"), "other\n").unwrap();
    fs::create_dir_all(&scheme.scripts).unwrap();
    fs::write(scheme.scripts.join("existing"), "#!/bin/sh\n").unwrap();
    scheme
}

/// A venv-like scheme under `root`.
pub fn scheme(root: &Path, name: &str) -> Scheme {
    let lib = root.join("lib/python3.11/site-packages");
    Scheme {
        purelib: lib.clone(),
        platlib: lib,
        scripts: root.join("bin"),
        data: root.to_path_buf(),
        headers: root.join("include/site/python3.11").join(name),
    }
}

/// Every `.data` key, entry points, a `#!python` script, a wrapper left out.
pub fn demo_members() -> Vec<Member> {
    vec![
        file("demo/__init__.py", "x = 1\n"),
        file("demo/a,b\"c.txt", "quoted name\n"),
        file("démo_ü/ñ.py", "# non-ASCII\n"),
        ("demo-1.0.data/scripts/run", b"#!python\nprint('run')\n".to_vec(), true),
        file("demo-1.0.data/scripts/plain.sh", "#!/bin/sh\necho plain\n"),
        file("demo-1.0.data/scripts/demo", "setuptools' wrapper, left out\n"),
        file("demo-1.0.data/purelib/extra.py", "extra = 1\n"),
        file("demo-1.0.data/platlib/plat.py", "plat = 1\n"),
        file("demo-1.0.data/data/share/demo/d.txt", "data\n"),
        file("demo-1.0.data/headers/demo.h", "int demo;\n"),
        file(
            "demo-1.0.dist-info/entry_points.txt",
            "[console_scripts]\ndemo = demo.cli:main\nhéllo = demo:run.go [x]\n\n[gui_scripts]\ndemo-gui = demo.gui:start\n",
        ),
    ]
}

/// A fresh `python3 -m venv` at `dir`: its Python, or `None` (with a
/// SKIPPED note) where there is no venv module to make one.
pub fn make_venv(dir: &Path) -> Option<PathBuf> {
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status();
    if !made.is_ok_and(|status| status.success()) {
        eprintln!("SKIPPED: `python3 -m venv` is not available, nothing to compare with");
        return None;
    }
    Some(dir.join("bin/python"))
}

/// The scheme pip installs distribution `name` into with the venv's
/// `python`, asked of pip itself.
pub fn venv_scheme(python: &Path, name: &str) -> Scheme {
    let query = format!(
        "from pip._internal.locations import get_scheme\n\
         s = get_scheme({name:?})\n\
         print('\\n'.join([s.purelib, s.platlib, s.scripts, s.data, s.headers]))"
    );
    let out = Command::new(python).args(["-c", &query]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dirs: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    Scheme {
        purelib: dirs[0].clone(),
        platlib: dirs[1].clone(),
        scripts: dirs[2].clone(),
        data: dirs[3].clone(),
        headers: dirs[4].clone(),
    }
}

/// pip for the venv of `python`, under umask 022: the venv's own, unless
/// `FASTLINK_PIP_PYTHON` names a Python whose pip to run instead (with
/// `--python <venv>`, so that it acts on the venv as the venv's pip would).
pub fn pip(python: &Path) -> Command {
    let mut pip = Command::new("sh");
    pip.args(["-c", "umask 022 && exec \"$@\"", "sh"]);
    match std::env::var_os("FASTLINK_PIP_PYTHON") {
        Some(other) => pip.arg(other).args(["-m", "pip", "--python"]).arg(python),
        None => pip.arg(python).args(["-m", "pip"]),
    };
    pip.arg("--disable-pip-version-check");
    pip
}

/// `pip install --no-deps --no-index --no-compile <wheel>` into the venv of
/// `python`, which must succeed.
pub fn pip_install(python: &Path, wheel: &Path) {
    let out = pip(python)
        .args(["install", "--no-deps", "--no-index", "--no-compile"])
        .arg(wheel)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pip failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = pip(python).arg("--version").output().unwrap();
    eprintln!(
        "compared with: {}",
        String::from_utf8_lossy(&version.stdout).trim()
    );
}
