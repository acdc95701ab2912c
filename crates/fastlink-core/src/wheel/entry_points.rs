//! `entry_points.txt`: the `[console_scripts]` and `[gui_scripts]` a wheel
//! asks launchers for.
//!
//! Read as pip reads it (through `importlib.metadata`): lines stripped,
//! blank lines and `#` comments skipped, `[group]` opens a group, and every
//! other line is `name = value`, split at its first `=`, both sides
//! stripped. A value is parsed as distlib's `get_export_entry` does:
//! `module:attr.sub` (each part `\w+`, dot-separated), then optionally
//! `[extras]`, which a launcher ignores.

/// One launcher to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// The launcher's file name in the scripts directory.
    pub name: String,
    /// The module to import from (`a.b` of `a.b:c.d`).
    pub module: String,
    /// The callable, possibly dotted (`c.d` of `a.b:c.d`).
    pub attr: String,
    /// From `[gui_scripts]` (the same launcher on POSIX).
    pub gui: bool,
}

/// The console and GUI entry points of `text`, console first, each group
/// in file order with a later duplicate name replacing the earlier (pip
/// collects each group into a dict). `Err` says what is wrong: a line that
/// is not `name = value`, a value distlib cannot parse or without the
/// `:callable` pip requires, or a name that could make the launcher land
/// outside the scripts directory.
pub fn parse(text: &str) -> Result<Vec<EntryPoint>, String> {
    let mut console: Vec<EntryPoint> = Vec::new();
    let mut gui: Vec<EntryPoint> = Vec::new();
    let mut group: Option<&str> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            group = Some(line.trim_matches(|c| c == '[' || c == ']'));
            continue;
        }
        let target = match group {
            Some("console_scripts") => &mut console,
            Some("gui_scripts") => &mut gui,
            _ => continue,
        };
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("entry_points.txt: {line:?} is not `name = value`"))?;
        let (name, value) = (name.trim(), value.trim());
        check_name(name)?;
        let (module, attr) = parse_value(value)
            .ok_or_else(|| format!("entry point {name:?}: invalid value {value:?}"))?;
        let entry = EntryPoint {
            name: name.to_string(),
            module,
            attr: attr.ok_or_else(|| {
                format!("entry point {name:?}: {value:?} has no `:callable` suffix")
            })?,
            gui: group == Some("gui_scripts"),
        };
        target.retain(|other| other.name != entry.name);
        target.push(entry);
    }
    console.extend(gui);
    Ok(console)
}

/// A launcher's name must be one file name in the scripts directory: not
/// empty, `.` or `..`, and without `/`, `\`, NUL or whitespace.
///
/// pip refuses a name that resolves to the scripts directory itself or
/// outside it (`.`, `..`, `../x`) but accepts `a/b` (a launcher in a
/// subdirectory); distlib's grammar cannot give a name with whitespace
/// (it would take a different name from the line). Here all of those are
/// refused: none is a command a user can type.
fn check_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.starts_with('[')
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_whitespace());
    if bad {
        return Err(format!(
            "entry point name {name:?} is not a file name in the scripts directory"
        ));
    }
    Ok(())
}

/// `module[:attr] [extras]` as distlib's `ENTRY_RE` reads it, to (module,
/// attr); `None` when it does not parse (more than one `:`, an empty or
/// non-word part, text after the extras).
fn parse_value(value: &str) -> Option<(String, Option<String>)> {
    let (callable, extras) = match value.find('[') {
        Some(open) => (value[..open].trim_end(), Some(&value[open..])),
        None => (value, None),
    };
    if let Some(extras) = extras {
        let inner = extras.strip_prefix('[')?.strip_suffix(']')?;
        let words = inner
            .split(',')
            .all(|flag| is_flag(flag.trim()) && !flag.trim().is_empty());
        if !words {
            return None;
        }
    }
    let (module, attr) = match callable.split_once(':') {
        Some((module, attr)) => (module, Some(attr)),
        None => (callable, None),
    };
    if !is_dotted(module) || attr.is_some_and(|attr| !is_dotted(attr)) {
        return None;
    }
    Some((module.to_string(), attr.map(str::to_string)))
}

/// Python's `\w`: a Unicode letter or digit, or `_`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `\w+(\.\w+)*`.
fn is_dotted(text: &str) -> bool {
    text.split('.')
        .all(|part| !part.is_empty() && part.chars().all(is_word_char))
}

/// An extra as distlib's flags allow: `[\w-]+` or `\w+=\w+`.
fn is_flag(flag: &str) -> bool {
    match flag.split_once('=') {
        Some((key, value)) => {
            !key.is_empty()
                && !value.is_empty()
                && key.chars().all(is_word_char)
                && value.chars().all(is_word_char)
        }
        None => flag.chars().all(|c| is_word_char(c) || c == '-'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(name: &str, module: &str, attr: &str, gui: bool) -> EntryPoint {
        EntryPoint {
            name: name.into(),
            module: module.into(),
            attr: attr.into(),
            gui,
        }
    }

    #[test]
    fn reads_console_and_gui_scripts() {
        let text = "\n# comment\n[console_scripts]\ndemo = demo.cli:main\n  héllo=demo:run.go [extra1, x-y]  \n\n\
                    [other]\nnot a = valid line at all ::\n[gui_scripts]\ndemo-gui = demo.gui:start\n\
                    [console_scripts]\ndemo = demo.cli:main2\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                ep("héllo", "demo", "run.go", false),
                ep("demo", "demo.cli", "main2", false),
                ep("demo-gui", "demo.gui", "start", true),
            ]
        );
    }

    #[test]
    fn refuses_names_outside_the_scripts_dir() {
        for name in ["a/b", "../x", "..", ".", "a\\b", "a\0b", "a b", "[x"] {
            let text = format!("[console_scripts]\n{name} = m:f\n");
            assert!(parse(&text).is_err(), "{name:?}");
        }
        assert!(parse("[console_scripts]\n = m:f\n").is_err());
        // Other groups are not launchers: not checked.
        assert!(parse("[other]\n../x = m:f\n").unwrap().is_empty());
    }

    #[test]
    fn refuses_values_pip_refuses() {
        for value in [
            "m",
            "m:f:g",
            "m:",
            ":f",
            "m.:f",
            "m:f [",
            "m:f [a,,b]",
            "m:f x",
            "a-b:f",
        ] {
            let text = format!("[gui_scripts]\nx = {value}\n");
            assert!(parse(&text).is_err(), "{value:?}");
        }
        assert!(parse("[console_scripts]\nno equals sign\n").is_err());
    }
}
