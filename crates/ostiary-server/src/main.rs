//! The `ostiary` binary.

/// See the workspace manifest for why the binary does not use the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ostiary_server::cli::main()
}
