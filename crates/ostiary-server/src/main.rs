//! The `ostiary` binary.

fn main() -> std::process::ExitCode {
    ostiary_server::cli::main()
}
