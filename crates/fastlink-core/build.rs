//! Chooses the platform backend (`src/platform/`) from the target, as project
//! cfgs, so that a backend can also be chosen by hand on Linux: `make
//! macos-sim` builds with `--cfg fastlink_macos`, `make portable-check` with
//! `--cfg fastlink_portable`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fastlink_macos)");
    println!("cargo::rustc-check-cfg=cfg(fastlink_portable)");
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let unix = std::env::var_os("CARGO_CFG_UNIX").is_some();
    match os.as_str() {
        "macos" => println!("cargo::rustc-cfg=fastlink_macos"),
        "linux" => {}
        _ if unix => println!("cargo::rustc-cfg=fastlink_portable"),
        _ => {}
    }
}
