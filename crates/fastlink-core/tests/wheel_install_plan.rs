//! `plan_install`, through the public API only: wheels built here with the
//! zip crate's writer, unpacked with `unpack_wheel`, then planned; and one
//! plan compared with what pip itself installs into a fresh venv.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{
    demo_members, file, hash, make_venv, pip_install, scheme, venv_scheme, write_wheel, Member,
};
use fastlink_core::{
    plan_install, unpack_wheel, CancelFlag, ErrorKind, InstallOptions, InstallPlan, Scheme,
    SchemeKey,
};

struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("cache")).unwrap();
        fs::create_dir(tmp.path().join("wheels")).unwrap();
        Setup { tmp }
    }

    /// Build, unpack and plan a wheel of `members`.
    fn plan(
        &self,
        name: &str,
        root_is_purelib: bool,
        members: &[Member],
        options: &InstallOptions,
    ) -> fastlink_core::Result<InstallPlan> {
        let wheel = write_wheel(
            &self.tmp.path().join("wheels"),
            name,
            root_is_purelib,
            members,
        );
        let unpacked =
            unpack_wheel(&wheel, &self.tmp.path().join("cache"), &CancelFlag::new()).unwrap();
        plan_install(&unpacked.path, &scheme(Path::new("/v"), name), options)
    }
}

fn written<'a>(plan: &'a InstallPlan, key: SchemeKey, path: &str) -> &'a [u8] {
    &plan
        .written_at(key, Path::new(path))
        .unwrap_or_else(|| panic!("{key}/{path} not written"))
        .contents
}

#[test]
fn every_data_key_entry_points_and_scripts() {
    let setup = Setup::new();
    let options = InstallOptions {
        requested: true,
        direct_url: Some("{\"url\": \"file:///w\"}".to_string()),
        ..InstallOptions::new("/v/bin/python")
    };
    let plan = setup.plan("demo", true, &demo_members(), &options).unwrap();
    assert_eq!((plan.name.as_str(), plan.version.as_str()), ("demo", "1.0"));
    assert!(plan.root_is_purelib);

    let placed: Vec<String> = plan
        .placed
        .iter()
        .map(|f| format!("{} {} <- {}", f.key, f.path.display(), f.source.display()))
        .collect();
    assert_eq!(
        placed,
        [
            // Byte order, as RECORD's: "-" sorts before "/".
            "purelib demo-1.0.dist-info/METADATA <- demo-1.0.dist-info/METADATA",
            "purelib demo-1.0.dist-info/WHEEL <- demo-1.0.dist-info/WHEEL",
            "purelib demo-1.0.dist-info/entry_points.txt <- demo-1.0.dist-info/entry_points.txt",
            "purelib demo/__init__.py <- demo/__init__.py",
            "purelib demo/a,b\"c.txt <- demo/a,b\"c.txt",
            "purelib démo_ü/ñ.py <- démo_ü/ñ.py",
            "purelib extra.py <- demo-1.0.data/purelib/extra.py",
            "platlib plat.py <- demo-1.0.data/platlib/plat.py",
            "scripts plain.sh <- demo-1.0.data/scripts/plain.sh",
            "data share/demo/d.txt <- demo-1.0.data/data/share/demo/d.txt",
            "headers demo.h <- demo-1.0.data/headers/demo.h",
        ]
    );

    let launcher = |module: &str, import: &str, func: &str| {
        format!(
            "#!/v/bin/python\nimport sys\nfrom {module} import {import}\nif __name__ == '__main__':\n    \
             sys.argv[0] = sys.argv[0].removesuffix('.exe')\n    sys.exit({func}())\n"
        )
    };
    assert_eq!(
        written(&plan, SchemeKey::Scripts, "demo"),
        launcher("demo.cli", "main", "main").as_bytes()
    );
    assert_eq!(
        written(&plan, SchemeKey::Scripts, "héllo"),
        launcher("demo", "run", "run.go").as_bytes()
    );
    assert_eq!(
        written(&plan, SchemeKey::Scripts, "demo-gui"),
        launcher("demo.gui", "start", "start").as_bytes()
    );
    let run = plan
        .written_at(SchemeKey::Scripts, Path::new("run"))
        .unwrap();
    assert_eq!(run.contents, b"#!/v/bin/python\nprint('run')\n");
    assert_eq!(
        run.source.as_deref(),
        Some(Path::new("demo-1.0.data/scripts/run"))
    );
    assert_eq!(run.mode(0o022), 0o755);
    let launcher_file = plan
        .written_at(SchemeKey::Scripts, Path::new("demo"))
        .unwrap();
    assert!(launcher_file.is_executable());
    assert_eq!(launcher_file.mode(0o027), 0o755);

    let info = "demo-1.0.dist-info";
    assert_eq!(
        written(&plan, SchemeKey::Purelib, &format!("{info}/INSTALLER")),
        b"fastlink\n"
    );
    assert_eq!(
        written(&plan, SchemeKey::Purelib, &format!("{info}/REQUESTED")),
        b""
    );
    assert_eq!(
        written(
            &plan,
            SchemeKey::Purelib,
            &format!("{info}/direct_url.json")
        ),
        b"{\"url\": \"file:///w\"}"
    );
    let installer = plan
        .written_at(SchemeKey::Purelib, Path::new(&format!("{info}/INSTALLER")))
        .unwrap();
    assert_eq!(installer.mode(0o022), 0o644);

    let record =
        String::from_utf8(written(&plan, SchemeKey::Purelib, &format!("{info}/RECORD")).to_vec())
            .unwrap();
    let paths: Vec<&str> = record
        .lines()
        .map(|line| line.rsplitn(3, ',').last().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "../../../bin/demo",
            "../../../bin/demo-gui",
            "../../../bin/héllo",
            "../../../bin/plain.sh",
            "../../../bin/run",
            "../../../include/site/python3.11/demo/demo.h",
            "../../../share/demo/d.txt",
            "demo-1.0.data/scripts/demo",
            "demo-1.0.dist-info/INSTALLER",
            "demo-1.0.dist-info/METADATA",
            "demo-1.0.dist-info/RECORD",
            "demo-1.0.dist-info/REQUESTED",
            "demo-1.0.dist-info/WHEEL",
            "demo-1.0.dist-info/direct_url.json",
            "demo-1.0.dist-info/entry_points.txt",
            "demo/__init__.py",
            "\"demo/a,b\"\"c.txt\"",
            "démo_ü/ñ.py",
            "extra.py",
            "plat.py",
        ]
    );
    assert!(record.contains("demo-1.0.dist-info/RECORD,,\r\n"));
    assert!(record.contains(&format!(
        "../../../bin/run,{},{}\r\n",
        hash(b"#!/v/bin/python\nprint('run')\n"),
        29
    )));
    assert!(record.contains(&format!("extra.py,{},10\r\n", hash(b"extra = 1\n"))));
}

#[test]
fn a_platlib_wheel_roots_in_platlib() {
    let setup = Setup::new();
    let lib = Path::new("/v/lib64/python3.11/site-packages");
    let members = [
        file("native/__init__.py", ""),
        file("native-1.0.data/purelib/p.py", ""),
    ];
    let wheel = write_wheel(&setup.tmp.path().join("wheels"), "native", false, &members);
    let unpacked =
        unpack_wheel(&wheel, &setup.tmp.path().join("cache"), &CancelFlag::new()).unwrap();
    let scheme = Scheme {
        platlib: lib.to_path_buf(),
        ..scheme(Path::new("/v"), "native")
    };
    let plan = plan_install(
        &unpacked.path,
        &scheme,
        &InstallOptions::new("/v/bin/python"),
    )
    .unwrap();
    assert!(!plan.root_is_purelib);
    let keys: Vec<_> = plan
        .placed
        .iter()
        .map(|f| (f.key, f.path.to_str().unwrap()))
        .collect();
    assert!(keys.contains(&(SchemeKey::Platlib, "native/__init__.py")));
    assert!(keys.contains(&(SchemeKey::Purelib, "p.py")));
    let record = written(&plan, SchemeKey::Platlib, "native-1.0.dist-info/RECORD");
    let record = String::from_utf8(record.to_vec()).unwrap();
    assert!(
        record.contains("../../lib/python3.11/site-packages/p.py,"),
        "{record}"
    );
    assert!(
        record.contains("native-1.0.dist-info/INSTALLER,"),
        "{record}"
    );
}

#[test]
fn a_long_or_spaced_interpreter_gets_the_sh_trampoline() {
    let setup = Setup::new();
    let long = format!("/{}/bin/python", "x".repeat(120));
    for interpreter in ["/my venv/bin/python", long.as_str()] {
        let quoted = if interpreter.contains(' ') {
            format!("\"{interpreter}\"")
        } else {
            interpreter.to_string()
        };
        let shebang = format!("#!/bin/sh\n'''exec' {quoted} \"$0\" \"$@\"\n' '''\n");
        let plan = setup
            .plan(
                "demo",
                true,
                &demo_members(),
                &InstallOptions::new(interpreter),
            )
            .unwrap();
        assert_eq!(
            written(&plan, SchemeKey::Scripts, "run"),
            format!("{shebang}print('run')\n").as_bytes()
        );
        assert!(written(&plan, SchemeKey::Scripts, "demo-gui").starts_with(shebang.as_bytes()));
    }
}

#[test]
fn refusals() {
    let setup = Setup::new();
    let options = InstallOptions::new("/v/bin/python");
    let bad_key = [file("demo-1.0.data/lib/x.py", "")];
    let err = setup.plan("demo", true, &bad_key, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidWheel, "{err}");
    assert!(err.message().contains("unknown scheme key"), "{err}");
    let bare = [file("demo-1.0.data/scripts", "")];
    assert_eq!(
        setup
            .plan("demo", true, &bare, &options)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidWheel
    );
    for name in ["a/b", "../x", "..", ".", "a b"] {
        let text = format!("[console_scripts]\n{name} = demo:main\n");
        let members = [(
            "demo-1.0.dist-info/entry_points.txt",
            text.into_bytes(),
            false,
        )];
        let err = setup.plan("demo", true, &members, &options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidWheel, "{name:?}: {err}");
    }
    let no_callable = [file(
        "demo-1.0.dist-info/entry_points.txt",
        "[gui_scripts]\nx = demo\n",
    )];
    assert_eq!(
        setup
            .plan("demo", true, &no_callable, &options)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidWheel
    );
    let twice = [file("x.py", "1"), file("demo-1.0.data/purelib/x.py", "2")];
    assert_eq!(
        setup
            .plan("demo", true, &twice, &options)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidWheel
    );
    let relative = InstallOptions::new("python");
    assert_eq!(
        setup.plan("demo", true, &[], &relative).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

/// Rows of a RECORD text, by path.
fn rows(record: &str) -> BTreeMap<String, String> {
    record
        .lines()
        .map(|line| {
            (
                line.rsplitn(3, ',').last().unwrap().to_string(),
                line.to_string(),
            )
        })
        .collect()
}

/// The same wheel planned here and installed by pip into a fresh venv:
/// RECORD's text, the launchers, the rewritten script, INSTALLER, every
/// placed file and every mode must be pip's. The venv's own pip runs,
/// unless `FASTLINK_PIP_PYTHON` names a Python whose pip to run instead
/// (with `--python <venv>`, so that it installs into the venv as the
/// venv's pip would).
#[test]
fn the_plan_is_what_pip_installs() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(python) = make_venv(&tmp.path().join("venv")) else {
        return;
    };
    let wheels = tmp.path().join("wheels");
    fs::create_dir(&wheels).unwrap();
    let wheel = write_wheel(&wheels, "demo", true, &demo_members());
    let scheme = venv_scheme(&python, "demo");
    pip_install(&python, &wheel);

    let cache = tmp.path().join("cache");
    fs::create_dir(&cache).unwrap();
    let unpacked = unpack_wheel(&wheel, &cache, &CancelFlag::new()).unwrap();
    // pip's command line marks what it was asked for (REQUESTED) and
    // records a wheel file's URL (direct_url.json): the caller's part.
    let info = scheme.purelib.join("demo-1.0.dist-info");
    let options = InstallOptions {
        installer: "pip".to_string(),
        requested: true,
        direct_url: Some(fs::read_to_string(info.join("direct_url.json")).unwrap()),
        ..InstallOptions::new(&python)
    };
    let plan = plan_install(&unpacked.path, &scheme, &options).unwrap();

    // Launchers: pip 25.0 and older write distlib's template; the shebang
    // must still be the same, and the body is then that older template.
    let mut old_template = false;
    for (name, module, import, func) in [
        ("demo", "demo.cli", "main", "main"),
        ("héllo", "demo", "run", "run.go"),
        ("demo-gui", "demo.gui", "start", "start"),
    ] {
        let ours = written(&plan, SchemeKey::Scripts, name);
        let theirs = fs::read(scheme.scripts.join(name)).unwrap();
        if ours != theirs.as_slice() {
            let shebang = format!("#!{}\n", python.display());
            let distlib = format!(
                "{shebang}# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {import}\n\
                 if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    \
                 sys.exit({func}())\n"
            );
            assert!(ours.starts_with(shebang.as_bytes()));
            assert_eq!(
                String::from_utf8(theirs).unwrap(),
                distlib,
                "launcher {name}"
            );
            old_template = true;
        }
    }
    if old_template {
        eprintln!("NOTE: this pip writes the pre-26 launcher template: launcher bytes and their RECORD rows not compared");
    }

    // RECORD: row for row (launcher rows by path only with an older pip).
    let ours =
        String::from_utf8(written(&plan, SchemeKey::Purelib, "demo-1.0.dist-info/RECORD").to_vec())
            .unwrap();
    let theirs = fs::read_to_string(info.join("RECORD")).unwrap();
    if old_template {
        let (ours, theirs) = (rows(&ours), rows(&theirs));
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        );
        for (path, row) in &ours {
            if !["demo", "héllo", "demo-gui"]
                .iter()
                .any(|l| path.ends_with(&format!("bin/{l}")))
            {
                assert_eq!(row, &theirs[path]);
            }
        }
    } else {
        assert_eq!(ours, theirs);
    }

    // Every file: the same bytes where pip put it, and pip's mode.
    for file in &plan.placed {
        let theirs = scheme.dir(file.key).join(&file.path);
        assert_eq!(
            fs::read(unpacked.path.join(&file.source)).unwrap(),
            fs::read(&theirs).unwrap(),
            "{}",
            theirs.display()
        );
    }
    for file in &plan.written {
        let theirs = scheme.dir(file.key).join(&file.path);
        let mode = fs::metadata(&theirs).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, file.mode(0o022), "{}", theirs.display());
        let is_launcher = file.key == SchemeKey::Scripts && file.source.is_none();
        let compared = !(old_template && is_launcher);
        if compared && !file.path.ends_with("RECORD") {
            assert_eq!(
                file.contents,
                fs::read(&theirs).unwrap(),
                "{}",
                theirs.display()
            );
        }
    }
    assert_eq!(fs::read(info.join("INSTALLER")).unwrap(), b"pip\n");
    assert!(!scheme.scripts.join("demo-1.0.data").exists());
}
