//! The checked-in schemas are exactly what the generator makes of the GSMA YAML. The YAML is read from
//! `../shared/spec/` relative to the workspace root (CI has `shared/` beside the clone).

use std::path::PathBuf;

use mmapi_conformance::schemagen::Generated;

const SPEC: &str = "../shared/spec/v1.2.0/mobile-money-api-specification-1.2.0-master_0.yaml";

#[test]
fn checked_in_schemas_match_the_generator() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_dir
        .parent()
        .expect("the crate is inside the workspace");
    let spec = workspace.join(SPEC);
    assert!(
        spec.is_file(),
        "the GSMA spec is not at {} ({SPEC} relative to the workspace root {}); the schema check cannot run \
         without it: put shared/ beside the repository",
        spec.display(),
        workspace.display()
    );
    let generated = Generated::from_spec_file(&spec).expect("the generator reads the spec");
    let differences = generated
        .differences(&crate_dir.join("schemas"))
        .expect("the schema folder is readable");
    assert!(
        differences.is_empty(),
        "conformance-tests/schemas is stale ({} differences):\n  {}\nregenerate with:\n  cargo run -p \
         mmapi-conformance -- generate-schemas --spec {SPEC} --out conformance-tests/schemas",
        differences.len(),
        differences.join("\n  ")
    );
    assert!(
        generated.files.len() > 150,
        "{} files",
        generated.files.len()
    );
}
