//! The workspace's uniffi bindgen: the same uniffi version as `tapprove-bindings`, so the generated
//! Kotlin/Swift always match the library's metadata. Use `cargo xtask bindings` rather than
//! calling this directly; it builds the library first and passes the right flags.

fn main() {
    uniffi::uniffi_bindgen_main()
}
