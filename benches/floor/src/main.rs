//! fastlink-floor: the lower bound fastlink is compared against.
//!
//! It materializes SRC at DST with the fewest syscalls that can do it, and nothing
//! else: no metadata copying, no fallbacks, no fsync, no stat per entry.
//!
//! ```text
//! fastlink-floor MODE SRC DST [--threads N]      MODE: clone | hardlink | copy
//! ```
//!
//! 1. Walk SRC with raw `getdents64` on directory fds opened with `openat` relative to
//!    their parent (one `openat` + `getdents64`s + `close` per directory), classifying
//!    entries by `d_type` alone; `fstatat` only when `d_type` is `DT_UNKNOWN`.
//! 2. `mkdir` DST (it must not exist), then `mkdirat` every directory (0755), parents first.
//! 3. N workers (the main thread plus N-1 spawned ones) take entries from a shared
//!    atomic index. Per regular file:
//!    - clone: `openat(src, O_RDONLY)` + `openat(dst, O_WRONLY|O_CREAT|O_EXCL, 0644)` +
//!      `ioctl(FICLONE)` + 2 × `close`
//!    - copy: the same two opens + `copy_file_range` until it returns 0 + 2 × `close`.
//!      Between different filesystem types the kernel (>= 5.19) refuses
//!      `copy_file_range` with EXDEV; the first such refusal switches the whole job to
//!      `sendfile` (also an in-kernel copy, also until it returns 0), so a cross-
//!      filesystem copy costs one failed call per job, not per file.
//!    - hardlink: `linkat(src, dst)` only
//!
//!    Per symlink (any mode): `readlinkat` + `symlinkat`.
//!
//! Every path is resolved relative to the SRC / DST root fds (`*at` calls), so the
//! root prefixes are never walked again. Any failure is fatal (exit status 1).
//!
//! Output: one JSON line on stdout,
//! `{"mode":..,"threads":N,"files":F,"dirs":D,"symlinks":K,"bytes":B,"seconds":S,"engine":E}`
//! where E is `FICLONE`, `linkat`, `copy_file_range` or `sendfile`.
//! `seconds` is the whole job (walk + mkdirs + file work) on a monotonic clock.
//! `files` counts regular files, `dirs` counts directories including the root,
//! `symlinks` counts symlinks. `bytes` is the sum of regular file sizes: in copy mode
//! the sum of what `copy_file_range` returned (free, inside the timed part); in clone
//! and hardlink mode it comes from one `fstatat` per source file done *after* the clock
//! has stopped, so it is not part of `seconds` (but does show up under strace).

use std::ffi::{CStr, CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use libc::c_int;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Clone,
    Hardlink,
    Copy,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Clone => "clone",
            Mode::Hardlink => "hardlink",
            Mode::Copy => "copy",
        }
    }
}

/// The tree, as paths relative to the SRC root.
#[derive(Default)]
struct Tree {
    /// Directories below the root, every parent before its children.
    dirs: Vec<CString>,
    /// Regular files (`false`) and symlinks (`true`).
    items: Vec<(CString, bool)>,
    files: u64,
    symlinks: u64,
}

const GETDENTS_BUF: usize = 64 * 1024;
/// Bytes asked of one `copy_file_range` call; the kernel caps it anyway.
const CFR_CHUNK: usize = 1 << 30;

fn die(msg: String) -> ! {
    eprintln!("fastlink-floor: {msg}");
    std::process::exit(1);
}

fn errno_msg() -> String {
    std::io::Error::last_os_error().to_string()
}

fn show(p: &CStr) -> String {
    String::from_utf8_lossy(p.to_bytes()).into_owned()
}

fn usage() -> ! {
    eprintln!("usage: fastlink-floor clone|hardlink|copy SRC DST [--threads N]");
    std::process::exit(2);
}

fn cstring(b: &[u8]) -> CString {
    CString::new(b).unwrap_or_else(|_| die("path contains a NUL byte".into()))
}

/// Reads every entry of the open directory `dirfd` (path `prefix` relative to the
/// root, empty for the root), records it, then descends into the subdirectories.
fn walk(dirfd: c_int, prefix: &[u8], tree: &mut Tree, buf: &mut [u8]) {
    let mut subdirs: Vec<(CString, CString)> = Vec::new(); // (name, relative path)
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dirfd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            die(format!(
                "getdents64 {:?}: {}",
                String::from_utf8_lossy(prefix),
                errno_msg()
            ));
        }
        if n == 0 {
            break;
        }
        let n = n as usize;
        let mut off = 0usize;
        while off < n {
            // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let mut dtype = buf[off + 18];
            let name_bytes = &buf[off + 19..off + reclen];
            let name_len = name_bytes
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(name_bytes.len());
            let name = &name_bytes[..name_len];
            off += reclen;
            if name == b"." || name == b".." {
                continue;
            }
            let cname = cstring(name);
            if dtype == libc::DT_UNKNOWN {
                // SAFETY: zeroed stat is a valid out-buffer; cname is NUL-terminated.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                let r = unsafe {
                    libc::fstatat(dirfd, cname.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
                };
                if r != 0 {
                    die(format!("fstatat {}: {}", show(&cname), errno_msg()));
                }
                dtype = match st.st_mode & libc::S_IFMT {
                    libc::S_IFDIR => libc::DT_DIR,
                    libc::S_IFREG => libc::DT_REG,
                    libc::S_IFLNK => libc::DT_LNK,
                    _ => libc::DT_UNKNOWN,
                };
            }
            let mut rel = Vec::with_capacity(prefix.len() + 1 + name.len());
            if !prefix.is_empty() {
                rel.extend_from_slice(prefix);
                rel.push(b'/');
            }
            rel.extend_from_slice(name);
            let rel = cstring(&rel);
            match dtype {
                libc::DT_DIR => {
                    tree.dirs.push(rel.clone());
                    subdirs.push((cname, rel));
                }
                libc::DT_REG => {
                    tree.files += 1;
                    tree.items.push((rel, false));
                }
                libc::DT_LNK => {
                    tree.symlinks += 1;
                    tree.items.push((rel, true));
                }
                _ => die(format!("unsupported file type: {}", show(&rel))),
            }
        }
    }
    for (name, rel) in subdirs {
        // SAFETY: name is NUL-terminated.
        let fd = unsafe {
            libc::openat(
                dirfd,
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            die(format!("open dir {}: {}", show(&rel), errno_msg()));
        }
        walk(fd, rel.as_bytes(), tree, buf);
        // SAFETY: fd was opened above and is closed once.
        unsafe { libc::close(fd) };
    }
}

/// Set once a `copy_file_range` failed with EXDEV: from then on every copy uses
/// `sendfile` directly (no wasted call per file).
static USE_SENDFILE: AtomicBool = AtomicBool::new(false);

/// Copies `s` to `d` in the kernel until EOF; returns the bytes moved.
/// `copy_file_range` first; if the very first call of a file says EXDEV (kernels
/// 5.19 and later refuse it between different filesystem types) the job switches to
/// `sendfile`, which takes the same number of calls per file.
///
/// # Safety
/// `s` and `d` must be open fds (read and write).
unsafe fn copy_fd(s: c_int, d: c_int, path: &CStr) -> u64 {
    let mut bytes = 0u64;
    if !USE_SENDFILE.load(Ordering::Relaxed) {
        loop {
            let r = libc::copy_file_range(
                s,
                std::ptr::null_mut(),
                d,
                std::ptr::null_mut(),
                CFR_CHUNK,
                0,
            );
            if r < 0 {
                if bytes == 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EXDEV)
                {
                    USE_SENDFILE.store(true, Ordering::Relaxed);
                    break;
                }
                die(format!("copy_file_range {}: {}", show(path), errno_msg()));
            }
            if r == 0 {
                return bytes;
            }
            bytes += r as u64;
        }
    }
    loop {
        let r = libc::sendfile(d, s, std::ptr::null_mut(), CFR_CHUNK);
        if r < 0 {
            die(format!("sendfile {}: {}", show(path), errno_msg()));
        }
        if r == 0 {
            return bytes;
        }
        bytes += r as u64;
    }
}

/// One worker: takes entries off the shared index until none are left.
/// Returns the bytes copied (copy mode only).
fn worker(
    mode: Mode,
    src: c_int,
    dst: c_int,
    items: &[(CString, bool)],
    next: &AtomicUsize,
) -> u64 {
    let mut bytes = 0u64;
    let mut link_buf = vec![0u8; libc::PATH_MAX as usize + 1];
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some((path, is_link)) = items.get(i) else {
            break;
        };
        let p = path.as_ptr();
        // SAFETY (whole block): every path is NUL-terminated, fds are valid for the
        // duration of the job, buffers are sized as passed.
        unsafe {
            if *is_link {
                let n = libc::readlinkat(src, p, link_buf.as_mut_ptr().cast(), link_buf.len() - 1);
                if n < 0 {
                    die(format!("readlinkat {}: {}", show(path), errno_msg()));
                }
                link_buf[n as usize] = 0;
                if libc::symlinkat(link_buf.as_ptr().cast(), dst, p) != 0 {
                    die(format!("symlinkat {}: {}", show(path), errno_msg()));
                }
                continue;
            }
            if mode == Mode::Hardlink {
                if libc::linkat(src, p, dst, p, 0) != 0 {
                    die(format!("linkat {}: {}", show(path), errno_msg()));
                }
                continue;
            }
            let s = libc::openat(src, p, libc::O_RDONLY | libc::O_CLOEXEC);
            if s < 0 {
                die(format!("open {}: {}", show(path), errno_msg()));
            }
            let d = libc::openat(
                dst,
                p,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o644 as libc::c_uint,
            );
            if d < 0 {
                die(format!("create {}: {}", show(path), errno_msg()));
            }
            if mode == Mode::Clone {
                if libc::ioctl(d, libc::FICLONE, s) != 0 {
                    die(format!("ioctl(FICLONE) {}: {}", show(path), errno_msg()));
                }
            } else {
                bytes += copy_fd(s, d, path);
            }
            libc::close(s);
            libc::close(d);
        }
    }
    bytes
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut pos: Vec<&OsString> = Vec::new();
    let mut threads: usize = 2;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_bytes();
        if a == b"--threads" {
            i += 1;
            let v = args.get(i).unwrap_or_else(|| usage());
            threads = v
                .to_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
        } else if let Some(v) = a.strip_prefix(b"--threads=") {
            threads = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
        } else {
            pos.push(&args[i]);
        }
        i += 1;
    }
    if pos.len() != 3 || threads == 0 {
        usage();
    }
    let mode = match pos[0].as_bytes() {
        b"clone" => Mode::Clone,
        b"hardlink" => Mode::Hardlink,
        b"copy" => Mode::Copy,
        _ => usage(),
    };
    let src_path = cstring(pos[1].as_bytes());
    let dst_path = cstring(pos[2].as_bytes());

    let t0 = Instant::now();

    // 1. Walk.
    // SAFETY: paths are NUL-terminated; fds stay open until the process exits.
    let src = unsafe {
        libc::open(
            src_path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if src < 0 {
        die(format!("open {}: {}", show(&src_path), errno_msg()));
    }
    let mut tree = Tree::default();
    let mut buf = vec![0u8; GETDENTS_BUF];
    walk(src, b"", &mut tree, &mut buf);
    drop(buf);

    // 2. Directories.
    // SAFETY: as above.
    unsafe {
        if libc::mkdir(dst_path.as_ptr(), 0o755) != 0 {
            die(format!("mkdir {}: {}", show(&dst_path), errno_msg()));
        }
    }
    let dst = unsafe {
        libc::open(
            dst_path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dst < 0 {
        die(format!("open {}: {}", show(&dst_path), errno_msg()));
    }
    for d in &tree.dirs {
        // SAFETY: d is NUL-terminated.
        if unsafe { libc::mkdirat(dst, d.as_ptr(), 0o755) } != 0 {
            die(format!("mkdir {}: {}", show(d), errno_msg()));
        }
    }

    // 3. Files and symlinks: the main thread plus threads-1 spawned workers.
    let next = AtomicUsize::new(0);
    let copied = AtomicU64::new(0);
    let items = &tree.items[..];
    std::thread::scope(|sc| {
        for _ in 1..threads {
            sc.spawn(|| {
                let b = worker(mode, src, dst, items, &next);
                copied.fetch_add(b, Ordering::Relaxed);
            });
        }
        let b = worker(mode, src, dst, items, &next);
        copied.fetch_add(b, Ordering::Relaxed);
    });

    let seconds = t0.elapsed().as_secs_f64();

    let bytes = if mode == Mode::Copy {
        copied.load(Ordering::Relaxed)
    } else {
        // Untimed: sizes of the source files, for the report only.
        let mut total = 0u64;
        for (path, is_link) in items {
            if *is_link {
                continue;
            }
            // SAFETY: zeroed stat is a valid out-buffer; path is NUL-terminated.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::fstatat(src, path.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } != 0
            {
                die(format!("fstatat {}: {}", show(path), errno_msg()));
            }
            total += st.st_size as u64;
        }
        total
    };

    let engine = match mode {
        Mode::Clone => "FICLONE",
        Mode::Hardlink => "linkat",
        Mode::Copy if USE_SENDFILE.load(Ordering::Relaxed) => "sendfile",
        Mode::Copy => "copy_file_range",
    };
    println!(
        "{{\"mode\":\"{}\",\"threads\":{},\"files\":{},\"dirs\":{},\"symlinks\":{},\"bytes\":{},\"seconds\":{:.6},\"engine\":\"{}\"}}",
        mode.name(),
        threads,
        tree.files,
        tree.dirs.len() + 1,
        tree.symlinks,
        bytes,
        seconds,
        engine
    );
}
