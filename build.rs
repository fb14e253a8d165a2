//! Build script: finds DPDK with pkg-config, generates the Rust bindings with bindgen and
//! compiles the C shim that gives DPDK's `static inline` functions (`rte_eth_rx_burst`,
//! `rte_pktmbuf_alloc`, ...) a linkable symbol.
//!
//! Bindings come from one of two places:
//! - `generated`: bindgen run on `vendor-bindings/dpdk.h` with the installed DPDK headers
//!   (needs libclang);
//! - `pregenerated`: `vendor-bindings/bindings.rs` and `vendor-bindings/static_fns.c`, checked
//!   in, used when libclang is missing or bindgen fails, or when
//!   `STICKWIRE_PREGENERATED_BINDINGS=1`. They match DPDK 22.11 LTS on x86_64.
//!
//! Either way the C shim is compiled against the installed DPDK headers, and the crate sees
//! `STICKWIRE_BINDINGS=generated|pregenerated` at compile time.
//!
//! The software PMDs (net_null, net_ring, net_pcap, net_af_packet, net_tap) and the mempool
//! drivers are plugins on Debian, loaded by EAL from its driver directory. The directory is
//! found here and passed as `STICKWIRE_DPDK_PMD_DIR`; `STICKWIRE_DPDK_PMD_DIR_BUILTIN=1`
//! says that `librte_eal` already loads it by itself (so `Eal::init` need not add `-d`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The header bindgen reads and the shim includes.
const HEADER: &str = "vendor-bindings/dpdk.h";
const PREGEN_RS: &str = "vendor-bindings/bindings.rs";
const PREGEN_C: &str = "vendor-bindings/static_fns.c";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={HEADER}");
    println!("cargo:rerun-if-changed={PREGEN_RS}");
    println!("cargo:rerun-if-changed={PREGEN_C}");
    for var in
        ["STICKWIRE_PREGENERATED_BINDINGS", "PKG_CONFIG_PATH", "PKG_CONFIG", "LIBCLANG_PATH", "STICKWIRE_DPDK_PMD_DIR"]
    {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let vendor_dir = manifest_dir.join("vendor-bindings");
    let header = manifest_dir.join(HEADER);

    // Link flags: shared linkage, exactly the libraries pkg-config names.
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .statik(false)
        .probe("libdpdk")
        .unwrap_or_else(|e| panic!("pkg-config could not find libdpdk (install libdpdk-dev): {e}"));

    let cflags = dpdk_cflags();

    let want_pregen = env::var("STICKWIRE_PREGENERATED_BINDINGS").is_ok_and(|v| v == "1");
    let bindings_rs = out_dir.join("bindings.rs");
    let static_fns_c = out_dir.join("static_fns.c");

    let used = if want_pregen {
        use_pregenerated(&manifest_dir, &bindings_rs, &static_fns_c);
        "pregenerated"
    } else {
        match generate(&header, &cflags, &out_dir) {
            Ok(()) => "generated",
            Err(why) => {
                println!("cargo:warning=bindgen failed ({why}); using the pre-generated DPDK bindings");
                use_pregenerated(&manifest_dir, &bindings_rs, &static_fns_c);
                "pregenerated"
            }
        }
    };
    if used == "pregenerated" && want_pregen {
        println!("cargo:warning=using the pre-generated DPDK bindings (STICKWIRE_PREGENERATED_BINDINGS=1)");
    }
    println!("cargo:rustc-env=STICKWIRE_BINDINGS={used}");

    compile_shim(&static_fns_c, &vendor_dir, &cflags, &lib.include_paths);

    let (pmd_dir, builtin) = pmd_dir(&lib.link_paths);
    println!(
        "cargo:rustc-env=STICKWIRE_DPDK_PMD_DIR={}",
        pmd_dir.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default()
    );
    println!("cargo:rustc-env=STICKWIRE_DPDK_PMD_DIR_BUILTIN={}", u8::from(builtin));
}

/// `pkg-config --cflags libdpdk`, split into words (`-I...`, `-include rte_config.h`,
/// `-march=corei7`, ...).
fn dpdk_cflags() -> Vec<String> {
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out =
        Command::new(pkg_config).args(["--cflags", "libdpdk"]).output().expect("running pkg-config --cflags libdpdk");
    assert!(out.status.success(), "pkg-config --cflags libdpdk failed");
    let mut flags: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
    // DPDK's headers use SSSE3/SSE4 intrinsics on x86; pkg-config says -march=corei7, but
    // make sure there is a baseline even if a packager dropped it.
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") && !flags.iter().any(|f| f.starts_with("-march=")) {
        flags.push("-march=corei7".to_string());
    }
    flags
}

/// Runs bindgen, writing `bindings.rs` and `static_fns.c` into `out_dir`.
fn generate(header: &Path, cflags: &[String], out_dir: &Path) -> Result<(), String> {
    let header_str = header.to_str().ok_or("non-UTF-8 header path")?.to_string();
    let cflags = cflags.to_vec();
    let wrap_path = out_dir.join("static_fns");
    let bindings_rs = out_dir.join("bindings.rs");

    // bindgen panics when libclang cannot be loaded: treat that as a failure like any other
    // (quietly: the fallback says what happened).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(move || {
        bindgen::Builder::default()
            .header(header_str)
            .clang_args(cflags)
            .clang_arg("-DALLOW_EXPERIMENTAL_API")
            .clang_arg("-DALLOW_INTERNAL_API")
            .clang_arg("-Wno-deprecated-declarations")
            .allowlist_function("rte_.*")
            .allowlist_type("rte_.*")
            .allowlist_var("rte_.*")
            .allowlist_var("RTE_.*")
            .allowlist_function("stickwire_.*")
            .blocklist_item("per_lcore__rte_errno")
            // rustc rejects packed structs that contain aligned ones: keep these opaque.
            .opaque_type("rte_l2tpv2_.*")
            .opaque_type("rte_gtp_.*")
            .opaque_type("rte_flow_item_gtp.*")
            .opaque_type("rte_flow_item_l2tpv2")
            .opaque_type("rte_arp_hdr")
            .opaque_type("rte_arp_ipv4")
            .wrap_static_fns(true)
            .wrap_static_fns_path(&wrap_path)
            .clang_macro_fallback()
            .derive_default(true)
            .derive_debug(true)
            .prepend_enum_name(false)
            .layout_tests(false)
            .generate_comments(false)
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new().rerun_on_header_files(false)))
            .generate()
    });
    std::panic::set_hook(default_hook);
    let bindings = match result {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "bindgen panicked".to_string());
            return Err(msg);
        }
    };
    bindings.write_to_file(&bindings_rs).map_err(|e| e.to_string())?;

    // bindgen names the header by its absolute path; make the shim relocatable so the same
    // file can be checked in as `vendor-bindings/static_fns.c`.
    let c_path = out_dir.join("static_fns.c");
    let c = fs::read_to_string(&c_path).map_err(|e| format!("reading {}: {e}", c_path.display()))?;
    let c = relocatable_shim(&c);
    fs::write(&c_path, c).map_err(|e| e.to_string())?;
    Ok(())
}

/// Replaces the `#include "/abs/path/dpdk.h"` line bindgen writes with `#include "dpdk.h"`.
fn relocatable_shim(c: &str) -> String {
    c.lines()
        .map(|line| {
            if line.starts_with("#include \"") && line.trim_end().ends_with("dpdk.h\"") {
                "#include \"dpdk.h\"".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn use_pregenerated(manifest_dir: &Path, bindings_rs: &Path, static_fns_c: &Path) {
    let src_rs = manifest_dir.join(PREGEN_RS);
    let src_c = manifest_dir.join(PREGEN_C);
    fs::copy(&src_rs, bindings_rs).unwrap_or_else(|e| panic!("copying {}: {e}", src_rs.display()));
    fs::copy(&src_c, static_fns_c).unwrap_or_else(|e| panic!("copying {}: {e}", src_c.display()));
}

/// Compiles the `static inline` wrappers into `libstickwire_dpdk_shim.a`.
fn compile_shim(static_fns_c: &Path, vendor_dir: &Path, cflags: &[String], includes: &[PathBuf]) {
    let mut build = cc::Build::new();
    build
        .file(static_fns_c)
        .include(vendor_dir)
        .define("ALLOW_EXPERIMENTAL_API", None)
        .define("ALLOW_INTERNAL_API", None)
        .flag_if_supported("-Wno-deprecated-declarations")
        .flag_if_supported("-Wno-unused-parameter")
        // DPDK's per-lcore variables (`rte_lcore_id()` in every mempool get and put) are
        // thread-locals of librte_eal, loaded at start: the initial-exec model reads them
        // with one instruction instead of a `__tls_get_addr` call per mbuf operation.
        .flag_if_supported("-ftls-model=initial-exec")
        .warnings(false)
        .opt_level(2);
    for inc in includes {
        build.include(inc);
    }
    // Everything else pkg-config says (`-include rte_config.h`, `-march=corei7`, defines).
    let mut it = cflags.iter();
    while let Some(flag) = it.next() {
        if flag.starts_with("-I") {
            continue;
        }
        if flag == "-include" {
            if let Some(file) = it.next() {
                build.flag("-include").flag(file);
            }
            continue;
        }
        build.flag(flag);
    }
    build.compile("stickwire_dpdk_shim");
}

/// The directory EAL loads driver plugins from, and whether `librte_eal` knows it already.
fn pmd_dir(link_paths: &[PathBuf]) -> (Option<PathBuf>, bool) {
    let mut libdirs: Vec<PathBuf> = link_paths.to_vec();
    if let Ok(out) = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(["--variable=libdir", "libdpdk"])
        .output()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            libdirs.push(PathBuf::from(dir));
        }
    }

    let explicit = env::var("STICKWIRE_DPDK_PMD_DIR").ok().filter(|d| !d.is_empty()).map(PathBuf::from);
    let found = explicit.or_else(|| {
        libdirs.iter().find_map(|libdir| {
            let mut pmds: Vec<PathBuf> = fs::read_dir(libdir.join("dpdk"))
                .ok()?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("pmds-"))
                })
                .collect();
            pmds.sort();
            pmds.pop()
        })
    });

    // Does librte_eal carry this directory as its built-in plugin path?
    let builtin = found.as_ref().is_some_and(|dir| {
        let needle = format!("DPDK_PLUGIN_PATH={}", dir.display());
        libdirs.iter().any(|libdir| {
            fs::read(libdir.join("librte_eal.so"))
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
    });
    (found, builtin)
}
