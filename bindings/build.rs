//! Link options of the phone library (cdylib only).
//!
//! - Relative relocations packed: unpacked, `.rela.dyn` was a tenth of the stripped library
//!   (every pointer in a vtable or string table needs an entry). On Android, minSdk 26 loads
//!   Android's own packed format (API 23+; RELR itself needs API 28); iOS's linker writes
//!   compact chained fixups anyway. On Linux, RELR needs glibc 2.36 or newer at load time.
//! - Identical code folded (`--icf=all`): generic code instantiated for types with the same
//!   layout is often byte-identical. Needs lld: rustc's default linker on x86_64 Linux, and
//!   the NDK's; other Linux targets skip it. Rust promises no distinct function addresses.
//!
//! Measured effect in docs/PERFORMANCE.md (P2).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    match (os.as_str(), env.as_str()) {
        ("android", _) => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,--pack-dyn-relocs=android");
            println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
        }
        ("linux", "gnu") => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
            // Other Linux targets link with the system's `ld`, which has no ICF.
            if arch == "x86_64" {
                println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
            }
        }
        _ => {}
    }
}
