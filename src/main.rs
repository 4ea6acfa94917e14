//! The `keywatcher` binary: parses the command line, runs the command, and turns the outcome into an exit
//! status in one place. A fatal error is printed once with its whole chain of causes; a closed stdout
//! (`keywatcher score | head`) is not an error.

use std::io;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = keywatcher::cli::Cli::parse();
    match keywatcher::cmd::run(cli.command) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            keywatcher::report::say(format_args!("{err:#}"));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}
