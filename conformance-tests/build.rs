//! Embeds the schemas, scenarios and profiles into the binary, so that a release build runs with no file of
//! this folder at hand. Writes `$OUT_DIR/embedded.rs`: three sorted slices of (relative path, contents).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let mut code = String::new();
    for (constant, folder, extensions) in [
        ("SCHEMAS", "schemas", &["json"][..]),
        ("SCENARIOS", "scenarios", &["yaml", "yml", "json"][..]),
        ("PROFILES", "profiles", &["yaml", "yml", "json"][..]),
    ] {
        let dir = root.join(folder);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        collect(&dir, &dir, extensions, &mut files);
        files.sort();
        writeln!(
            code,
            "/// Embedded `{folder}/` files: (path relative to it, contents)."
        )
        .unwrap();
        writeln!(code, "pub static {constant}: &[(&str, &str)] = &[").unwrap();
        for (relative, absolute) in files {
            println!("cargo:rerun-if-changed={}", absolute.display());
            writeln!(
                code,
                "    ({relative:?}, include_str!({:?})),",
                absolute.display().to_string()
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("embedded.rs");
    std::fs::write(out, code).expect("write embedded.rs");
}

fn collect(base: &Path, dir: &Path, extensions: &[&str], out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(base, &path, extensions, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            let relative = path
                .strip_prefix(base)
                .expect("under base")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((relative, path));
        }
    }
}
