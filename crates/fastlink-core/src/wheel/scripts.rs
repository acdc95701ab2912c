//! The bytes of scripts: the shebang line, an entry point's launcher, and a
//! `#!python` script rewritten for the interpreter (POSIX only).

use std::fs::File;
use std::io::Read;

use super::entry_points::EntryPoint;

/// The longest shebang Linux reads whole (distlib's `max_shebang_length`;
/// 512 on macOS), counting `#!` and the newline.
#[cfg(not(target_os = "macos"))]
const MAX_SHEBANG: usize = 127;
#[cfg(target_os = "macos")]
const MAX_SHEBANG: usize = 512;

/// The shebang distlib's `ScriptMaker._get_shebang` builds for
/// `interpreter` (UTF-8) when pip runs it with no `executable` set: the
/// path, quoted when it holds a space (`enquote_executable`), then
/// `#!<path>\n` when that is short enough and has no space and the
/// interpreter is not itself a `#!` script, and otherwise a `/bin/sh`
/// trampoline that both sh and Python read:
///
/// ```text
/// #!/bin/sh
/// '''exec' <path> "$0" "$@"
/// ' '''
/// ```
pub fn shebang(interpreter: &str) -> Vec<u8> {
    let quoted = if interpreter.contains(' ') && !interpreter.starts_with('"') {
        format!("\"{interpreter}\"")
    } else {
        interpreter.to_string()
    };
    let simple =
        !quoted.contains(' ') && quoted.len() + 3 <= MAX_SHEBANG && !is_shell_script(interpreter);
    if simple {
        format!("#!{quoted}\n").into_bytes()
    } else {
        format!("#!/bin/sh\n'''exec' {quoted} \"$0\" \"$@\"\n' '''\n").into_bytes()
    }
}

/// Whether `path` starts with `#!` (distlib's `_is_shell`: a script cannot
/// be a shebang's interpreter on every system); an unreadable path is not.
fn is_shell_script(path: &str) -> bool {
    let mut start = [0; 2];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut start))
        .is_ok_and(|()| start == *b"#!")
}

/// A launcher's bytes: `shebang`, then pip's `PipScriptMaker.script_template`
/// (pip 26; pip 25.0 and older used distlib's, with a coding line and
/// `import re`). The same for console and GUI scripts on POSIX.
pub fn launcher(shebang: &[u8], entry: &EntryPoint) -> Vec<u8> {
    let import_name = entry.attr.split('.').next().unwrap_or(&entry.attr);
    let body = format!(
        "import sys\n\
         from {module} import {import_name}\n\
         if __name__ == '__main__':\n    \
         sys.argv[0] = sys.argv[0].removesuffix('.exe')\n    \
         sys.exit({func}())\n",
        module = entry.module,
        func = entry.attr,
    );
    [shebang, body.as_bytes()].concat()
}

/// pip's `fix_script`: when the first line (up to and including its `\n`)
/// starts with `#!python`, the script with that whole line replaced by
/// `shebang`; `None` when the script is to be placed as it is.
///
/// pip itself writes `#!<sys.executable>\n` whatever the path; this writes
/// [`shebang`]'s line, which is the same bytes wherever pip's would work
/// and the `/bin/sh` trampoline where pip's would not (a path with a space,
/// or longer than the kernel reads).
pub fn fix_script(content: &[u8], shebang: &[u8]) -> Option<Vec<u8>> {
    if !content.starts_with(b"#!python") {
        return None;
    }
    let rest = match content.iter().position(|&b| b == b'\n') {
        Some(newline) => &content[newline + 1..],
        None => &[],
    };
    Some([shebang, rest].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_path_is_a_plain_shebang() {
        assert_eq!(shebang("/v/bin/python"), b"#!/v/bin/python\n");
        let longest = format!("/{}", "p".repeat(MAX_SHEBANG - 4));
        assert_eq!(shebang(&longest), format!("#!{longest}\n").into_bytes());
    }

    #[test]
    fn a_long_or_spaced_path_gets_the_trampoline() {
        let long = format!("/{}", "p".repeat(MAX_SHEBANG - 3));
        assert_eq!(
            shebang(&long),
            format!("#!/bin/sh\n'''exec' {long} \"$0\" \"$@\"\n' '''\n").into_bytes()
        );
        assert_eq!(
            shebang("/my env/bin/python"),
            b"#!/bin/sh\n'''exec' \"/my env/bin/python\" \"$0\" \"$@\"\n' '''\n"
        );
    }

    #[test]
    fn an_interpreter_that_is_a_script_gets_the_trampoline() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("python");
        std::fs::write(&script, "#!/bin/sh\nexec python3 \"$@\"\n").unwrap();
        let path = script.to_str().unwrap();
        assert!(shebang(path).starts_with(b"#!/bin/sh\n'''exec' "));
    }

    #[test]
    fn launcher_is_pips_template() {
        let entry = EntryPoint {
            name: "x".into(),
            module: "pkg.cli".into(),
            attr: "app.main".into(),
            gui: false,
        };
        assert_eq!(
            String::from_utf8(launcher(b"#!/p\n", &entry)).unwrap(),
            "#!/p\nimport sys\nfrom pkg.cli import app\nif __name__ == '__main__':\n    \
             sys.argv[0] = sys.argv[0].removesuffix('.exe')\n    sys.exit(app.main())\n"
        );
    }

    #[test]
    fn fix_script_replaces_the_whole_first_line() {
        assert_eq!(
            fix_script(b"#!python -u\r\nrest\n", b"#!/p\n").unwrap(),
            b"#!/p\nrest\n"
        );
        assert_eq!(fix_script(b"#!pythonw", b"#!/p\n").unwrap(), b"#!/p\n");
        assert_eq!(fix_script(b"#!/usr/bin/python\n", b"#!/p\n"), None);
        assert_eq!(fix_script(b" #!python\n", b"#!/p\n"), None);
    }
}
