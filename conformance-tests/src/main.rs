//! The `mmapi-conformance` command: see `mmapi-conformance --help` and the README.

fn main() -> std::process::ExitCode {
    mmapi_conformance::cli::main()
}
