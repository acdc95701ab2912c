//! `install_wheel` and `install_wheels`, through the public API only: the
//! tree installed into a fresh venv is pip's, byte for byte and mode for
//! mode; the launchers run; pip uninstalls it; every failure leaves the
//! environment exactly as it was.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    demo_members, environment, file, make_venv, pip, pip_install, unpack, unpacked_wheel,
    venv_scheme, write_wheel,
};
use fastlink_core::{
    install_wheel, install_wheels, CancelFlag, ErrorKind, InstallOptions, InstalledDistribution,
    Options, Progress, Scheme, WheelInstall,
};

/// What is at a path: a directory (mode), a file (mode, bytes), a symlink
/// (target).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
}

/// Everything under `root` by relative path, `__pycache__` left out (a
/// Python run to ask for the scheme or by pip may leave some).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    snapshot_of(root, false)
}

/// [`snapshot`], `__pycache__` included when `all`.
fn snapshot_of(root: &Path, all: bool) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for item in fs::read_dir(&dir).unwrap() {
            let path = item.unwrap().path();
            if !all && path.file_name().unwrap() == "__pycache__" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let node = if meta.is_symlink() {
                Node::Link(fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                todo.push(path.clone());
                Node::Dir(mode)
            } else {
                Node::File(mode, fs::read(&path).unwrap())
            };
            out.insert(rel, node);
        }
    }
    out
}

/// What `after` has that `before` had not, or had otherwise.
fn added(
    before: &BTreeMap<PathBuf, Node>,
    after: &BTreeMap<PathBuf, Node>,
) -> BTreeMap<PathBuf, Node> {
    after
        .iter()
        .filter(|(path, node)| before.get(*path) != Some(node))
        .map(|(path, node)| (path.clone(), node.clone()))
        .collect()
}

/// The demo wheel with the modules its entry points name, so the launchers
/// run.
fn runnable_members() -> Vec<common::Member> {
    let mut members = demo_members();
    members.push(file(
        "demo/cli.py",
        "def main():\n    print('hello from demo')\n",
    ));
    members.push(file("demo/gui.py", "def start():\n    print('gui')\n"));
    members
}

fn install(
    entry: &Path,
    scheme: &Scheme,
    options: &InstallOptions,
) -> fastlink_core::Result<InstalledDistribution> {
    install_wheel(
        entry,
        scheme,
        options,
        &Options::default(),
        &CancelFlag::new(),
        &Progress::new(),
    )
}

/// One wheel installed by pip into a venv, and by fastlink into a fresh
/// venv at the same path: what each added (every path, its bytes, its
/// mode, the directories with theirs) must be the same, INSTALLER included
/// (installer "pip"); the launcher and the `#!python` script run; and the
/// venv's pip uninstalls what fastlink installed: no file is left that was
/// not there before, and the directories left are those pip's uninstall
/// leaves of pip's own install.
#[test]
fn the_install_is_what_pip_installs_and_pip_uninstalls_it() {
    // pip runs under umask 022; so does this process's install.
    unsafe { libc::umask(0o022) };
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let Some(python) = make_venv(&venv) else {
        return;
    };
    let wheels = tmp.path().join("wheels");
    fs::create_dir(&wheels).unwrap();
    let wheel = write_wheel(&wheels, "demo", true, &runnable_members());
    let scheme = venv_scheme(&python, "demo");

    let before = snapshot(&venv);
    pip_install(&python, &wheel);
    let by_pip = added(&before, &snapshot(&venv));
    let direct_url =
        fs::read_to_string(scheme.purelib.join("demo-1.0.dist-info/direct_url.json")).unwrap();
    uninstall(&python);
    // pip's uninstall leaves the directories it did not list (`share`,
    // `include/site/...`): what it leaves of its own install.
    let left_by_pip = added(&before, &snapshot(&venv));

    fs::remove_dir_all(&venv).unwrap();
    make_venv(&venv).unwrap();
    assert_eq!(venv_scheme(&python, "demo"), scheme);
    let before = snapshot(&venv);
    let entry = unpack(tmp.path(), &wheel);
    let options = InstallOptions {
        installer: "pip".to_string(),
        requested: true,
        direct_url: Some(direct_url),
        ..InstallOptions::new(&python)
    };
    let installed = install(&entry, &scheme, &options).unwrap();
    let by_fastlink = added(&before, &snapshot(&venv));

    assert_eq!(
        by_fastlink.keys().collect::<Vec<_>>(),
        by_pip.keys().collect::<Vec<_>>()
    );
    // pip 25.0 and older write distlib's launcher template: then the
    // launchers' shebang and mode are compared, and RECORD without their
    // rows (the_plan_is_what_pip_installs says the same).
    let launchers = ["bin/demo", "bin/héllo", "bin/demo-gui"];
    let old_template = matches!(&by_pip[Path::new("bin/demo")],
        Node::File(_, bytes) if bytes.windows(10).any(|w| w == b"import re\n"));
    if old_template {
        eprintln!("NOTE: this pip writes the pre-26 launcher template: launcher bodies and their RECORD rows not compared");
    }
    for (path, node) in &by_pip {
        let ours = &by_fastlink[path];
        let is_launcher = launchers.iter().any(|l| path == Path::new(l));
        let is_record = path.ends_with("demo-1.0.dist-info/RECORD");
        match (ours, node) {
            (Node::File(our_mode, ours), Node::File(mode, theirs))
                if old_template && (is_launcher || is_record) =>
            {
                assert_eq!(our_mode, mode, "{}", path.display());
                if is_launcher {
                    let first = |b: &[u8]| b.split(|&c| c == b'\n').next().unwrap().to_vec();
                    assert_eq!(first(ours), first(theirs), "{}", path.display());
                } else {
                    let rows = |text: &[u8]| -> Vec<String> {
                        String::from_utf8(text.to_vec())
                            .unwrap()
                            .lines()
                            .filter(|row| !launchers.iter().any(|l| row.contains(&format!("{l},"))))
                            .map(str::to_string)
                            .collect()
                    };
                    assert_eq!(rows(ours), rows(theirs));
                }
            }
            _ => assert_eq!(ours, node, "{}", path.display()),
        }
    }
    assert_eq!(
        (installed.name.as_str(), installed.version.as_str()),
        ("demo", "1.0")
    );
    assert_eq!(
        installed.dist_info,
        scheme.purelib.join("demo-1.0.dist-info")
    );
    assert_eq!(installed.report.files, installed.placed);
    assert_eq!(
        installed.report.reflinked + installed.report.hardlinked + installed.report.copied,
        installed.placed
    );
    // Launchers: demo, héllo, demo-gui; run; INSTALLER, REQUESTED,
    // direct_url.json, RECORD.
    assert_eq!(installed.written, 8);

    let run = |program: &str| {
        let out = Command::new(scheme.scripts.join(program))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{program}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run("demo"), "hello from demo\n");
    assert_eq!(run("run"), "run\n");

    uninstall(&python);
    let left = added(&before, &snapshot(&venv));
    assert_eq!(left, left_by_pip);
    assert!(
        left.values().all(|node| matches!(node, Node::Dir(_))),
        "{left:?}"
    );
    let now = snapshot(&venv);
    assert!(before.keys().all(|path| now.contains_key(path)));
}

/// `pip uninstall -y demo` with the venv's pip, which must succeed.
fn uninstall(python: &Path) {
    let out = pip(python)
        .args(["uninstall", "-y", "demo"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// An existing file in the last group placed (the lib root), in a middle
/// group (the scripts directory) or at a written file's name (a launcher,
/// renamed in after others were): each fails with EEXIST, and the
/// environment, `bin/` included, is as it was, the directories the install
/// created (headers' `include/site/...`, `share/demo`) gone.
#[test]
fn a_failure_anywhere_leaves_the_environment_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_members());
    for conflict in [
        "lib/python3.11/site-packages/demo/__init__.py",
        "bin/plain.sh",
        "bin/héllo",
        "bin/run",
    ] {
        let root = tmp
            .path()
            .join(format!("env-{}", conflict.replace('/', "_")));
        let scheme = environment(&root);
        let at = root.join(conflict);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::write(&at, "mine\n").unwrap();
        let before = snapshot(&root);

        let options = InstallOptions {
            requested: true,
            ..InstallOptions::new(root.join("bin/python"))
        };
        let err = install(&entry, &scheme, &options).unwrap_err();

        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::Io, libc::EEXIST),
            "{conflict}: {err}"
        );
        assert_eq!(snapshot(&root), before, "{conflict}");
        assert_eq!(fs::read(&at).unwrap(), b"mine\n");
    }
}

#[test]
fn an_installed_distribution_of_the_same_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_members());
    let root = tmp.path().join("env");
    let scheme = environment(&root);
    // Not the same project: left alone.
    fs::create_dir(scheme.purelib.join("demo_extra-1.0.dist-info")).unwrap();
    let before = snapshot(&root);
    install(
        &entry,
        &scheme,
        &InstallOptions::new(root.join("bin/python")),
    )
    .unwrap();

    for installed in [
        "demo-1.0.dist-info",
        "DEMO-0.9.dist-info",
        "dEmO-2.0.dist-info",
    ] {
        let root = tmp.path().join(format!("env-{installed}"));
        let scheme = environment(&root);
        fs::create_dir(scheme.purelib.join(installed)).unwrap();
        let before = snapshot(&root);
        let err = install(
            &entry,
            &scheme,
            &InstallOptions::new(root.join("bin/python")),
        )
        .unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::AlreadyInstalled, libc::EEXIST),
            "{installed}: {err}"
        );
        assert_eq!(err.dst(), Some(scheme.purelib.join(installed).as_path()));
        assert_eq!(snapshot(&root), before);
    }
    drop(before);
}

/// Two wheels sharing the namespace directory `ns` (no `__init__.py`),
/// installed together: both succeed, and `ns` holds both modules. A third
/// that fails (its launcher's name is taken) after placing `ns/c.py` takes
/// back only its own files: `ns`, holding the others', stays.
#[test]
fn wheels_sharing_a_namespace_directory_install_together() {
    let tmp = tempfile::tempdir().unwrap();
    let entries: Vec<PathBuf> = [
        ("nsa", file("ns/a.py", "a = 1\n")),
        ("nsb", file("ns/b.py", "b = 1\n")),
    ]
    .into_iter()
    .map(|(name, member)| unpacked_wheel(tmp.path(), name, "1.0", &[member]))
    .collect();
    let root = tmp.path().join("env");
    let scheme = environment(&root);
    let options = InstallOptions::new(root.join("bin/python"));
    let wheels: Vec<WheelInstall<'_>> = entries
        .iter()
        .map(|entry| WheelInstall {
            entry,
            scheme: &scheme,
            options: &options,
        })
        .collect();

    let results = install_wheels(
        &wheels,
        &Options::default(),
        &CancelFlag::new(),
        &Progress::new(),
    );

    let names: Vec<String> = results.into_iter().map(|r| r.unwrap().name).collect();
    assert_eq!(names, ["nsa", "nsb"]);
    assert_eq!(
        fs::read(scheme.purelib.join("ns/a.py")).unwrap(),
        b"a = 1\n"
    );
    assert_eq!(
        fs::read(scheme.purelib.join("ns/b.py")).unwrap(),
        b"b = 1\n"
    );
    assert!(scheme.purelib.join("nsa-1.0.dist-info/RECORD").exists());
    assert!(scheme.purelib.join("nsb-1.0.dist-info/RECORD").exists());

    let failing = unpacked_wheel(
        tmp.path(),
        "nsc",
        "1.0",
        &[
            file("ns/c.py", "c = 1\n"),
            file(
                "nsc-1.0.dist-info/entry_points.txt",
                "[console_scripts]\nexisting = ns.c:main\n",
            ),
        ],
    );
    let before = snapshot(&root);
    let err = install(&failing, &scheme, &options).unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST, "{err}");
    assert_eq!(snapshot(&root), before);
}

#[test]
fn a_cancel_before_the_start_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_members());
    let root = tmp.path().join("env");
    let scheme = environment(&root);
    let before = snapshot(&root);
    let cancel = CancelFlag::new();
    cancel.cancel();
    let options = InstallOptions::new(root.join("bin/python"));

    let err = install_wheel(
        &entry,
        &scheme,
        &options,
        &Options::default(),
        &cancel,
        &Progress::new(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let wheels = [WheelInstall {
        entry: &entry,
        scheme: &scheme,
        options: &options,
    }];
    let results = install_wheels(&wheels, &Options::default(), &cancel, &Progress::new());
    assert_eq!(
        results[0].as_ref().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    assert_eq!(snapshot(&root), before);
}

/// Written files go through directory fds that never follow a symlink: a
/// symlink where the scripts directory's subdirectory would be is refused,
/// nothing is written through it, and the install is rolled back.
#[test]
fn a_symlink_in_the_way_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = unpacked_wheel(
        tmp.path(),
        "demo",
        "1.0",
        &[
            file("demo/__init__.py", ""),
            (
                "demo-1.0.data/scripts/sub/tool",
                b"#!python\nprint(1)\n".to_vec(),
                true,
            ),
        ],
    );
    let root = tmp.path().join("env");
    let scheme = environment(&root);
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, scheme.scripts.join("sub")).unwrap();
    let before = snapshot(&root);

    let err = install(
        &entry,
        &scheme,
        &InstallOptions::new(root.join("bin/python")),
    )
    .unwrap_err();

    assert!(matches!(err.errno(), libc::ELOOP | libc::ENOTDIR), "{err}");
    assert_eq!(snapshot(&root), before);
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

/// Version 1.0 of "demo": modules (one in a directory of its own), a
/// script, a console launcher.
fn demo_v1() -> Vec<common::Member> {
    vec![
        file("demo/__init__.py", "v = 1\n"),
        file("demo/old.py", "old = 1\n"),
        file("demo/sub/only_v1.py", "only = 1\n"),
        file("demo-1.0.data/scripts/tool1", "#!/bin/sh\necho 1\n"),
        file(
            "demo-1.0.dist-info/entry_points.txt",
            "[console_scripts]\ndemo-old = demo:main\n",
        ),
    ]
}

/// Version 2.0: `__init__.py` changed, a module of its own, another
/// launcher; none of 1.0's other files.
fn demo_v2() -> Vec<common::Member> {
    vec![
        file("demo/__init__.py", "v = 2\n"),
        file("demo/new.py", "new = 2\n"),
        file(
            "demo-2.0.dist-info/entry_points.txt",
            "[console_scripts]\ndemo-new = demo:main\n",
        ),
    ]
}

fn replacing() -> InstallOptions {
    InstallOptions {
        replace: true,
        ..InstallOptions::new("/usr/bin/python3")
    }
}

/// An environment under `root` with demo 1.0 installed from `v1`, and the
/// bytecode Python would have written for two of its modules, and for a
/// module not its own.
fn with_v1(root: &Path, v1: &Path) -> fastlink_core::Scheme {
    let scheme = environment(root);
    install(v1, &scheme, &InstallOptions::new("/usr/bin/python3")).unwrap();
    let cache = scheme.purelib.join("demo/__pycache__");
    fs::create_dir(&cache).unwrap();
    for pyc in [
        "__init__.cpython-311.pyc",
        "old.cpython-311.pyc",
        "old.cpython-312.opt-1.pyc",
        "mine.cpython-311.pyc",
    ] {
        fs::write(cache.join(pyc), "bytecode").unwrap();
    }
    scheme
}

/// Replacing demo 1.0 by 2.0 leaves exactly what installing 2.0 into a
/// fresh environment leaves (plus the bytecode of a module not 1.0's):
/// 1.0's files, launcher, bytecode and emptied directories are gone, and
/// what is reported says so.
#[test]
fn replacing_a_distribution_leaves_only_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_v1());
    let v2 = unpacked_wheel(tmp.path(), "demo", "2.0", &demo_v2());
    let fresh = tmp.path().join("fresh");
    let fresh_scheme = environment(&fresh);
    install(&v2, &fresh_scheme, &replacing()).unwrap();
    let root = tmp.path().join("env");
    let scheme = with_v1(&root, &v1);

    let installed = install(&v2, &scheme, &replacing()).unwrap();

    let mut expected = snapshot_of(&fresh, true);
    let cache = PathBuf::from("lib/python3.11/site-packages/demo/__pycache__");
    expected.insert(cache.clone(), Node::Dir(0o755 & !umask()));
    expected.insert(
        cache.join("mine.cpython-311.pyc"),
        Node::File(0o644 & !umask(), b"bytecode".to_vec()),
    );
    assert_eq!(snapshot_of(&root, true), expected);
    let replaced = installed.replaced.unwrap();
    assert_eq!(
        (replaced.name.as_str(), replaced.version.as_str()),
        ("demo", "1.0")
    );
    assert_eq!(
        replaced.dist_info,
        scheme.purelib.join("demo-1.0.dist-info")
    );
    // 3 modules, a script, a launcher, METADATA, WHEEL, entry_points.txt,
    // INSTALLER, RECORD; 3 bytecode files.
    assert_eq!(replaced.removed, 13);
    assert!(replaced.left_alone.is_empty());
}

/// The process's umask (read without changing it, from /proc).
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))
        .and_then(|octal| u32::from_str_radix(octal.trim(), 8).ok())
        .unwrap_or(0o022)
}

/// A replace failing after 1.0's files are moved aside, where 2.0 places a
/// file (a directory at `demo/new.py`) or where it writes one (a directory
/// at the launcher `bin/demo-new`), puts the environment back exactly:
/// every path, its bytes and mode, bytecode included.
#[test]
fn a_replace_failing_midway_puts_the_old_distribution_back() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_v1());
    let v2 = unpacked_wheel(tmp.path(), "demo", "2.0", &demo_v2());
    for in_the_way in ["lib/python3.11/site-packages/demo/new.py", "bin/demo-new"] {
        let root = tmp
            .path()
            .join(format!("env-{}", in_the_way.replace('/', "_")));
        let scheme = with_v1(&root, &v1);
        fs::create_dir(root.join(in_the_way)).unwrap();
        let before = snapshot_of(&root, true);

        let err = install(&v2, &scheme, &replacing()).unwrap_err();

        assert_eq!(err.kind(), ErrorKind::Io, "{in_the_way}: {err}");
        assert_eq!(snapshot_of(&root, true), before, "{in_the_way}");
    }
}

/// A path in the old RECORD outside the scheme's directories, or reached
/// through a symlink, is not deleted (and the symlink not followed), and
/// is reported.
#[test]
fn a_record_path_outside_the_environment_is_left_alone_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_v1());
    let v2 = unpacked_wheel(tmp.path(), "demo", "2.0", &demo_v2());
    let root = tmp.path().join("env");
    let scheme = with_v1(&root, &v1);
    let record = scheme.purelib.join("demo-1.0.dist-info/RECORD");
    let mut text = fs::read_to_string(&record).unwrap();
    text += "../../../../outside,,\n/etc/hostname,,\nlinked/f.py,,\n";
    fs::write(&record, text).unwrap();
    let outside = tmp.path().join("outside");
    fs::write(&outside, "not the environment's\n").unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("f.py"), "elsewhere\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, scheme.purelib.join("linked")).unwrap();

    let installed = install(&v2, &scheme, &replacing()).unwrap();

    assert_eq!(fs::read(&outside).unwrap(), b"not the environment's\n");
    assert_eq!(fs::read(elsewhere.join("f.py")).unwrap(), b"elsewhere\n");
    assert_eq!(
        installed.replaced.unwrap().left_alone,
        [
            outside,
            PathBuf::from("/etc/hostname"),
            scheme.purelib.join("linked/f.py")
        ]
    );
    assert!(!scheme.purelib.join("demo/old.py").exists());
}

/// An installed distribution without RECORD cannot be uninstalled (pip
/// says so too): ENOENT naming the RECORD, nothing changed. Without
/// `replace`, one with RECORD is refused as installed already.
#[test]
fn an_installed_distribution_without_record_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_v1());
    let v2 = unpacked_wheel(tmp.path(), "demo", "2.0", &demo_v2());
    let root = tmp.path().join("env");
    let scheme = with_v1(&root, &v1);
    let before = snapshot_of(&root, true);
    let err = install(&v2, &scheme, &InstallOptions::new("/usr/bin/python3")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyInstalled, "{err}");
    let record = scheme.purelib.join("demo-1.0.dist-info/RECORD");
    fs::remove_file(&record).unwrap();
    let before_without = snapshot_of(&root, true);
    assert_ne!(before, before_without);

    let err = install(&v2, &scheme, &replacing()).unwrap_err();

    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::Io, libc::ENOENT),
        "{err}"
    );
    assert_eq!(err.dst(), Some(record.as_path()));
    assert_eq!(snapshot_of(&root, true), before_without);
}

/// In a real venv: fastlink installs demo 1.0, replaces it by 2.0, and
/// the venv's pip uninstalls 2.0 leaving no file that was not there
/// before.
#[test]
fn pip_uninstalls_what_a_replace_installed() {
    unsafe { libc::umask(0o022) };
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    let Some(python) = make_venv(&venv) else {
        return;
    };
    let scheme = venv_scheme(&python, "demo");
    let v1 = unpacked_wheel(tmp.path(), "demo", "1.0", &demo_v1());
    let v2 = unpacked_wheel(tmp.path(), "demo", "2.0", &demo_v2());
    let before = snapshot(&venv);
    let options = InstallOptions {
        installer: "pip".to_string(),
        ..InstallOptions::new(&python)
    };
    install(&v1, &scheme, &options).unwrap();
    let replace = InstallOptions {
        replace: true,
        ..options
    };
    install(&v2, &scheme, &replace).unwrap();

    uninstall(&python);

    let left = added(&before, &snapshot(&venv));
    assert!(
        left.values().all(|node| matches!(node, Node::Dir(_))),
        "{left:?}"
    );
    assert!(!scheme.purelib.join("demo").exists());
}
