//! Place a tree (or one file) the way an installer does, and print what
//! happened to its files:
//!
//! ```text
//! cargo run --release -p fastlink-core --example clone_tree -- [--merge] SRC DST [reflink,hardlink,copy]
//! ```
//!
//! `--merge` places the tree into an existing `DST` (an installer's
//! site-packages), as `dirs_exist_ok` does. Without a method list the
//! preference is `FASTLINK_METHODS` (e.g. `hardlink,copy`) or the default,
//! reflink then copy.
//!
//! Ctrl-C is left to the OS here; a binding that wants a clean roll-back on
//! Ctrl-C sets the [`CancelFlag`] from its signal handling instead.

use std::path::PathBuf;
use std::process::ExitCode;

use fastlink_core::{clone_or_copy, CancelFlag, Method, Options, Progress};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let merge = args.first().is_some_and(|arg| arg == "--merge");
    if merge {
        args.remove(0);
    }
    let (src, dst, methods) = match args.as_slice() {
        [src, dst] => (src, dst, None),
        [src, dst, methods] => (src, dst, Some(methods)),
        _ => {
            eprintln!("usage: clone_tree [--merge] SRC DST [reflink,hardlink,copy]");
            return ExitCode::from(2);
        }
    };
    let methods = match methods {
        Some(list) => Method::parse_preference(list.split(',')),
        None => Method::preference_from_env(),
    };
    let options = match methods {
        Ok(methods) => Options {
            methods,
            dirs_exist_ok: merge,
            ..Options::default()
        },
        Err(err) => {
            eprintln!("clone_tree: {err}");
            return ExitCode::from(2);
        }
    };
    let (src, dst) = (PathBuf::from(src), PathBuf::from(dst));
    match clone_or_copy(&src, &dst, &options, &CancelFlag::new(), &Progress::new()) {
        Ok(report) => {
            println!(
                "files: {}, bytes: {}, dirs: {}, symlinks: {}, in {:?}; reflinked: {}, hard-linked: {}, copied: {}",
                report.files,
                report.bytes,
                report.dirs,
                report.symlinks,
                report.elapsed,
                report.reflinked,
                report.hardlinked,
                report.copied,
            );
            for skipped in &report.skipped {
                println!("skipped: {}", skipped.message);
            }
            for fallback in &report.fallbacks {
                println!(
                    "fell back (files: {}): {}",
                    fallback.files, fallback.message
                );
            }
            for unstored in &report.unsupported_metadata {
                println!(
                    "not kept (entries: {}): {}",
                    unstored.entries, unstored.message
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            // Display names the errno and both paths, as Python's OSError does.
            eprintln!("clone_tree: {err}");
            ExitCode::FAILURE
        }
    }
}
