//! `keywatcher completions SHELL` and `keywatcher man`: the command line, described for a shell's
//! completion and for `man`, both generated from the clap definitions so they cannot drift from them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::emit;

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    // Into memory first: clap_complete panics when the pipe it writes to closes (`completions bash | head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "keywatcher", &mut script);
    print(&script)
}

pub fn man() -> Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page).context("cannot render the manual page")?;
    print(&page)
}

fn print(bytes: &[u8]) -> Result<ExitCode> {
    let mut out = emit::stdout();
    out.write_all(bytes).and_then(|()| out.flush()).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
