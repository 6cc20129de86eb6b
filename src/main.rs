//! The `flinkops` binary: parses the command line and hands over to [`flinkops::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    flinkops::cli::main()
}
