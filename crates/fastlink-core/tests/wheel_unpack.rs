//! `unpack_wheel`, through the public API only: test wheels are built here
//! with the zip crate's writer, and every failure must leave the cache
//! exactly as it was.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fastlink_core::{unpack_wheel, CancelFlag, ErrorKind, UnpackedWheel};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const NAME: &str = "demo-1.0-py3-none-any.whl";

/// A member of a test wheel.
#[derive(Clone)]
enum Member {
    File {
        name: String,
        data: Vec<u8>,
        mode: u32,
        deflated: bool,
    },
    Dir(String),
    Symlink {
        name: String,
        target: String,
    },
}

fn file(name: &str, data: &[u8]) -> Member {
    Member::File {
        name: name.to_string(),
        data: data.to_vec(),
        mode: 0o644,
        deflated: true,
    }
}

fn stored(name: &str, data: &[u8]) -> Member {
    Member::File {
        name: name.to_string(),
        data: data.to_vec(),
        mode: 0o644,
        deflated: false,
    }
}

fn executable(name: &str, data: &[u8]) -> Member {
    Member::File {
        name: name.to_string(),
        data: data.to_vec(),
        mode: 0o755,
        deflated: true,
    }
}

fn record_line(name: &str, data: &[u8]) -> String {
    format!("{name},{},{}\n", common::hash(data), data.len())
}

/// The members of a good wheel: a package of many files (enough to spread
/// over the workers), a directory member, a script, the dist-info.
fn good_members() -> Vec<Member> {
    let mut members = vec![
        Member::Dir("demo/".to_string()),
        file("demo/__init__.py", b"print('hello')\n"),
        stored("demo/stored.txt", b"stored, not deflated\n"),
        file("demo/big.bin", &vec![7u8; 300_000]),
        executable("demo-1.0.data/scripts/demo", b"#!python\nimport demo\n"),
        file("demo-1.0.dist-info/METADATA", b"Name: demo\nVersion: 1.0\n"),
        file("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
    ];
    for i in 0..40 {
        members.push(file(
            &format!("demo/sub{}/m{i}.py", i % 4),
            format!("x = {i}\n").as_bytes(),
        ));
    }
    members
}

/// The RECORD a correct wheel of `members` has.
fn record_of(members: &[Member]) -> String {
    let mut record = String::new();
    for member in members {
        match member {
            Member::File { name, data, .. } => record += &record_line(name, data),
            Member::Symlink { name, target } => record += &record_line(name, target.as_bytes()),
            Member::Dir(_) => {}
        }
    }
    record + "demo-1.0.dist-info/RECORD,,\n"
}

/// Write a wheel of `members` and `record` (the RECORD's text) at `path`.
fn write_wheel(path: &Path, members: &[Member], record: &str) {
    let mut zip = ZipWriter::new(fs::File::create(path).unwrap());
    for member in members {
        match member {
            Member::File {
                name,
                data,
                mode,
                deflated,
            } => {
                let method = if *deflated {
                    CompressionMethod::Deflated
                } else {
                    CompressionMethod::Stored
                };
                let options = SimpleFileOptions::default()
                    .compression_method(method)
                    .unix_permissions(*mode);
                zip.start_file(name.as_str(), options).unwrap();
                zip.write_all(data).unwrap();
            }
            Member::Dir(name) => zip
                .add_directory(name.as_str(), SimpleFileOptions::default())
                .unwrap(),
            Member::Symlink { name, target } => zip
                .add_symlink(name.as_str(), target.as_str(), SimpleFileOptions::default())
                .unwrap(),
        }
    }
    zip.start_file("demo-1.0.dist-info/RECORD", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(record.as_bytes()).unwrap();
    zip.finish().unwrap();
}

/// A temporary directory holding `wheels/` and an empty `cache/`.
struct Setup {
    _tmp: tempfile::TempDir,
    wheels: PathBuf,
    cache: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let wheels = tmp.path().join("wheels");
    let cache = tmp.path().join("cache");
    fs::create_dir(&wheels).unwrap();
    fs::create_dir(&cache).unwrap();
    Setup {
        _tmp: tmp,
        wheels,
        cache,
    }
}

impl Setup {
    fn wheel(&self, members: &[Member], record: &str) -> PathBuf {
        let path = self.wheels.join(NAME);
        write_wheel(&path, members, record);
        path
    }

    fn good_wheel(&self) -> PathBuf {
        let members = good_members();
        self.wheel(&members, &record_of(&members))
    }

    fn unpack(&self, wheel: &Path) -> fastlink_core::Result<UnpackedWheel> {
        unpack_wheel(wheel, &self.cache, &CancelFlag::new())
    }
}

/// Every path under `dir`, relative, recursively.
fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.symlink_metadata().unwrap().is_dir() {
                stack.push(path.clone());
            }
            found.insert(path.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    found
}

/// The process's umask, which trims every mode the entry gets.
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))
        .and_then(|octal| u32::from_str_radix(octal.trim(), 8).ok())
        .unwrap_or(0o022)
}

fn mode(path: &Path) -> u32 {
    path.symlink_metadata().unwrap().permissions().mode() & 0o7777
}

/// `wheel` is refused as invalid, naming `member` (when given), and the
/// cache holds nothing at all.
fn assert_invalid(setup: &Setup, wheel: &Path, member: Option<&str>) {
    let err = setup.unpack(wheel).expect_err("an invalid wheel");
    assert_eq!(err.kind(), ErrorKind::InvalidWheel, "{err}");
    assert_eq!(err.errno(), libc::EBADMSG, "{err}");
    assert_eq!(err.src(), Some(wheel), "{err}");
    if let Some(member) = member {
        assert!(err.message().contains(member), "{member} not in: {err}");
    }
    assert_eq!(listing(&setup.cache), BTreeSet::new(), "left in the cache");
}

#[test]
fn a_good_wheel_unpacks_with_exact_contents_and_modes() {
    let setup = setup();
    let wheel = setup.good_wheel();
    let unpacked = setup.unpack(&wheel).unwrap();
    assert!(!unpacked.reused);
    assert_eq!(
        (unpacked.name.as_str(), unpacked.version.as_str()),
        ("demo", "1.0")
    );
    let digest = Sha256::digest(fs::read(&wheel).unwrap());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        unpacked.path,
        setup.cache.join("wheels-v1").join(NAME).join(hex)
    );

    let members = good_members();
    let mut expected = BTreeSet::new();
    let mut bytes = 0;
    let mut files = 0;
    let umask = umask();
    for member in &members {
        match member {
            Member::File {
                name,
                data,
                mode: m,
                ..
            } => {
                let path = unpacked.path.join(name);
                assert_eq!(&fs::read(&path).unwrap(), data, "{name}");
                assert_eq!(mode(&path), *m & !umask, "{name}");
                bytes += data.len() as u64;
                files += 1;
                expected.insert(PathBuf::from(name));
            }
            Member::Dir(name) => {
                expected.insert(PathBuf::from(name.trim_end_matches('/')));
            }
            Member::Symlink { .. } => unreachable!(),
        }
    }
    let record = record_of(&members);
    let record_path = unpacked.path.join("demo-1.0.dist-info/RECORD");
    assert_eq!(fs::read_to_string(&record_path).unwrap(), record);
    expected.insert(PathBuf::from("demo-1.0.dist-info/RECORD"));
    assert_eq!(unpacked.files, files + 1);
    assert_eq!(unpacked.bytes, bytes + record.len() as u64);

    // Every directory (named by a member or not) is 0o755 under the umask.
    let listed = listing(&unpacked.path);
    for path in &listed {
        let full = unpacked.path.join(path);
        if full.is_dir() {
            assert_eq!(mode(&full), 0o755 & !umask, "{path:?}");
        } else {
            assert!(expected.contains(path), "unexpected {path:?}");
        }
    }
    assert_eq!(
        listed
            .iter()
            .filter(|p| !unpacked.path.join(p).is_dir())
            .count(),
        unpacked.files
    );
    // Nothing but the entry was left in the cache: no staging.
    assert_eq!(
        fs::read_dir(&setup.cache).unwrap().count(),
        1,
        "{:?}",
        listing(&setup.cache)
    );
}

#[test]
fn a_second_call_reuses_the_entry_without_rewriting_it() {
    let setup = setup();
    let wheel = setup.good_wheel();
    let first = setup.unpack(&wheel).unwrap();
    let inode = |p: &Path| fs::metadata(p.join("demo/__init__.py")).unwrap().ino();
    let before = inode(&first.path);
    let second = setup.unpack(&wheel).unwrap();
    assert!(second.reused);
    assert_eq!(
        (&second.path, second.files, second.bytes),
        (&first.path, first.files, first.bytes)
    );
    assert_eq!(inode(&second.path), before);
}

#[test]
fn a_different_wheel_with_the_same_file_name_gets_its_own_entry() {
    let setup = setup();
    let first = setup.unpack(&setup.good_wheel()).unwrap();
    let mut members = good_members();
    members.push(file("demo/extra.py", b"rebuilt\n"));
    let wheel = setup.wheel(&members, &record_of(&members));
    let second = setup.unpack(&wheel).unwrap();
    assert!(!second.reused);
    assert_ne!(second.path, first.path);
    assert_eq!(second.path.parent(), first.path.parent());
    assert!(second.path.join("demo/extra.py").exists());
    assert!(!first.path.join("demo/extra.py").exists());
}

#[test]
fn a_symlink_member_becomes_a_regular_file_with_its_target_as_content() {
    let setup = setup();
    let mut members = good_members();
    members.push(Member::Symlink {
        name: "demo/link".to_string(),
        target: "../../../etc/passwd".to_string(),
    });
    let wheel = setup.wheel(&members, &record_of(&members));
    let unpacked = setup.unpack(&wheel).unwrap();
    let link = unpacked.path.join("demo/link");
    let meta = link.symlink_metadata().unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(fs::read(&link).unwrap(), b"../../../etc/passwd");
    assert_eq!(mode(&link) & 0o111, 0);
}

#[test]
fn a_hash_mismatch_is_refused() {
    let setup = setup();
    let members = good_members();
    let record = record_of(&members).replace(
        &record_line("demo/__init__.py", b"print('hello')\n"),
        &record_line("demo/__init__.py", b"print('hellO')\n"),
    );
    let wheel = setup.wheel(&members, &record);
    assert_invalid(&setup, &wheel, Some("demo/__init__.py"));
}

#[test]
fn a_size_mismatch_is_refused() {
    let setup = setup();
    let members = good_members();
    let line = record_line("demo/big.bin", &vec![7u8; 300_000]);
    let record = record_of(&members).replace(&line, &line.replace(",300000", ",299999"));
    let wheel = setup.wheel(&members, &record);
    assert_invalid(&setup, &wheel, Some("demo/big.bin"));
    let record = record_of(&members).replace(&line, &line.replace(",300000", ",300001"));
    let wheel = setup.wheel(&members, &record);
    assert_invalid(&setup, &wheel, Some("demo/big.bin"));
}

#[test]
fn a_member_not_in_record_is_refused() {
    let setup = setup();
    let members = good_members();
    let record = record_of(&members);
    let mut with_extra = members.clone();
    with_extra.push(file("demo/smuggled.py", b"evil\n"));
    let wheel = setup.wheel(&with_extra, &record);
    assert_invalid(&setup, &wheel, Some("demo/smuggled.py"));
}

#[test]
fn a_member_without_a_hash_in_record_is_refused() {
    let setup = setup();
    let members = good_members();
    let record = record_of(&members).replace(
        &record_line("demo/__init__.py", b"print('hello')\n"),
        "demo/__init__.py,,\n",
    );
    let wheel = setup.wheel(&members, &record);
    assert_invalid(&setup, &wheel, Some("demo/__init__.py"));
}

#[test]
fn a_record_entry_missing_from_the_archive_is_refused() {
    let setup = setup();
    let members = good_members();
    let record = record_of(&members) + &record_line("demo/gone.py", b"x");
    let wheel = setup.wheel(&members, &record);
    assert_invalid(&setup, &wheel, Some("demo/gone.py"));
}

#[test]
fn unsafe_member_names_are_refused_before_anything_is_written() {
    for name in [
        "../x",
        "/abs",
        "a\\b",
        "demo/../../x",
        "demo//x",
        "demo/./x",
        "demo/nul\0x",
    ] {
        let setup = setup();
        let mut members = good_members();
        members.push(file(name, b"x"));
        let wheel = setup.wheel(&members, &record_of(&members));
        let shown = format!("{name:?}");
        assert_invalid(&setup, &wheel, Some(&shown[1..shown.len() - 1]));
    }
}

#[test]
fn a_path_both_file_and_directory_is_refused() {
    let setup = setup();
    let mut members = good_members();
    members.push(file("demo/sub0", b"a file where a directory is"));
    let wheel = setup.wheel(&members, &record_of(&members));
    assert_invalid(&setup, &wheel, Some("demo/sub0"));
}

#[test]
fn a_wheel_without_record_or_wheel_is_refused() {
    let setup = setup();
    let members: Vec<Member> = good_members()
        .into_iter()
        .filter(|m| !matches!(m, Member::File { name, .. } if name.ends_with("/WHEEL")))
        .collect();
    let wheel = setup.wheel(&members, &record_of(&members));
    assert_invalid(&setup, &wheel, Some("demo-1.0.dist-info/WHEEL"));

    // No RECORD: a zip of the other members only.
    let path = setup.wheels.join(NAME);
    let mut zip = ZipWriter::new(fs::File::create(&path).unwrap());
    for name in ["demo/__init__.py", "demo-1.0.dist-info/WHEEL"] {
        zip.start_file(name, SimpleFileOptions::default()).unwrap();
        zip.write_all(b"x").unwrap();
    }
    zip.finish().unwrap();
    assert_invalid(&setup, &path, Some("demo-1.0.dist-info/RECORD"));
}

#[test]
fn truncated_and_garbage_files_are_refused() {
    let setup = setup();
    let wheel = setup.good_wheel();
    let bytes = fs::read(&wheel).unwrap();
    fs::write(&wheel, &bytes[..bytes.len() / 2]).unwrap();
    assert_invalid(&setup, &wheel, None);
    fs::write(&wheel, b"this is not a zip file at all").unwrap();
    assert_invalid(&setup, &wheel, None);
    fs::write(&wheel, b"").unwrap();
    assert_invalid(&setup, &wheel, None);
}

#[test]
fn a_corrupt_member_is_refused_naming_it() {
    let setup = setup();
    let wheel = setup.good_wheel();
    let good = fs::read(&wheel).unwrap();
    // A stored member's bytes changed: its CRC no longer matches.
    let text = b"stored, not deflated\n";
    let at = good
        .windows(text.len())
        .position(|w| w == text)
        .expect("stored member");
    let mut bytes = good.clone();
    bytes[at] ^= 0x20;
    fs::write(&wheel, &bytes).unwrap();
    assert_invalid(&setup, &wheel, Some("demo/stored.txt"));

    // A deflated member's stream broken: its local header's name, then
    // (no extra field) its data.
    let name = b"demo/big.bin";
    let header = good
        .windows(name.len())
        .position(|w| w == name)
        .expect("local header");
    let mut bytes = good;
    for byte in &mut bytes[header + name.len() + 2..header + name.len() + 40] {
        *byte ^= 0x5a;
    }
    fs::write(&wheel, &bytes).unwrap();
    assert_invalid(&setup, &wheel, Some("demo/big.bin"));
}

#[test]
fn two_threads_unpacking_one_wheel_share_one_entry() {
    let setup = setup();
    let wheel = setup.good_wheel();
    let results: Vec<UnpackedWheel> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| setup.unpack(&wheel)))
            .collect();
        calls
            .into_iter()
            .map(|call| call.join().unwrap().unwrap())
            .collect()
    });
    assert_eq!(results[0].path, results[1].path);
    assert_eq!(results.iter().filter(|r| !r.reused).count(), 1);
    // The entry, and the pointer that finds it again without hashing.
    let mut entries: Vec<String> = fs::read_dir(results[0].path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries[1].starts_with("seen-"), "{entries:?}");
    // No staging left behind by the one that lost.
    assert_eq!(fs::read_dir(&setup.cache).unwrap().count(), 1);
}

#[test]
fn a_cancel_before_the_start_writes_nothing() {
    let setup = setup();
    let wheel = setup.good_wheel();
    let cancel = CancelFlag::new();
    cancel.cancel();
    let err = unpack_wheel(&wheel, &setup.cache, &cancel).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(listing(&setup.cache), BTreeSet::new());
}

#[test]
fn a_missing_wheel_is_an_io_error() {
    let setup = setup();
    let wheel = setup.wheels.join(NAME);
    let err = setup.unpack(&wheel).unwrap_err();
    assert_eq!((err.kind(), err.errno()), (ErrorKind::Io, libc::ENOENT));
    assert_eq!(err.src(), Some(wheel.as_path()));
}

#[test]
fn a_missing_cache_dir_is_made_with_its_parents() {
    let setup = setup();
    let wheel = setup.good_wheel();
    let cache = setup.cache.join("a/b");

    let unpacked = unpack_wheel(&wheel, &cache, &CancelFlag::new()).unwrap();

    assert!(!unpacked.reused);
    assert!(unpacked.path.starts_with(&cache));
    for dir in [setup.cache.join("a"), cache.clone()] {
        assert_eq!(mode(&dir), 0o755 & !umask(), "{}", dir.display());
    }
}

/// Names in the cache directory that look like staging trees.
fn stagings(cache: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(cache)
        .unwrap()
        .map(|item| item.unwrap().path())
        .filter(|path| {
            (path.file_name().unwrap().to_string_lossy()).starts_with(".fastlink-staging.")
        })
        .collect()
}

/// Unpack the wheel and cache `FASTLINK_TEST_UNPACK_CHILD` names
/// (`<wheel>\n<cache>`), to be killed midway by its parent test; does
/// nothing when run on its own.
#[test]
#[ignore]
fn child_unpacks_until_killed() {
    let Ok(args) = std::env::var("FASTLINK_TEST_UNPACK_CHILD") else {
        return;
    };
    let (wheel, cache) = args.split_once('\n').unwrap();
    let _ = unpack_wheel(Path::new(wheel), Path::new(cache), &CancelFlag::new());
}

/// A child process unpacking a wheel of many files into `cache`, killed
/// (SIGKILL) once its staging tree is there: the staging tree it left.
fn kill_an_unpack(wheel: &Path, cache: &Path) -> PathBuf {
    let before = stagings(cache);
    for _ in 0..5 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_unpacks_until_killed", "--ignored"])
            .arg("--nocapture")
            .env(
                "FASTLINK_TEST_UNPACK_CHILD",
                format!("{}\n{}", wheel.display(), cache.display()),
            )
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let found = loop {
            if let Some(staging) = stagings(cache).difference(&before).next() {
                break Some(staging.clone());
            }
            if child.try_wait().unwrap().is_some() {
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        match found {
            Some(staging) if staging.exists() => return staging,
            // Done before it was seen: start again without its entry.
            _ => fs::remove_dir_all(cache.join("wheels-v1")).unwrap(),
        }
    }
    panic!("the child unpacked the wheel before it could be killed, five times");
}

fn many_files_wheel(setup: &Setup) -> PathBuf {
    let mut members = good_members();
    for i in 0..8000 {
        members.push(stored(&format!("demo/many{}/f{i}.txt", i % 50), b"x\n"));
    }
    setup.wheel(&members, &record_of(&members))
}

/// The staging tree of an unpack killed midway is reclaimed with proof:
/// by `reclaim(cache)`, and by the next unpack of the same wheel (which
/// tries the same staging name first); a look-alike name is left alone.
#[test]
fn a_killed_unpack_s_staging_is_reclaimed() {
    let setup = setup();
    let wheel = many_files_wheel(&setup);
    let look_alike = setup
        .cache
        .join(".fastlink-staging.0.0.0123456789abcdef.not-ours");
    fs::create_dir(&look_alike).unwrap();

    let staging = kill_an_unpack(&wheel, &setup.cache);
    assert_eq!(fastlink_core::reclaim(&setup.cache).unwrap(), [staging]);
    assert_eq!(stagings(&setup.cache), BTreeSet::from([look_alike.clone()]));

    let staging = kill_an_unpack(&wheel, &setup.cache);
    let unpacked = setup.unpack(&wheel).unwrap();
    assert!(!unpacked.reused);
    assert!(!staging.exists(), "{}", staging.display());
    assert_eq!(stagings(&setup.cache), BTreeSet::from([look_alike]));
}
