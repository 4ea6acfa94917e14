//! One file per subcommand, each a one-screen story: build the settings, open the inputs and the store,
//! run the pipeline, print the summary, decide the exit status. This file only dispatches, mapping the old
//! script's command names onto today's.

mod docs;
mod learn;
mod profile;
mod report;
mod score;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Command, ProfileCommand};

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Learn(args) => learn::run(args),
        Command::Score(args) => score::run(args),
        Command::Profile(ProfileCommand::Show(args)) | Command::ShowProfile(args) => profile::show(args),
        Command::Profile(ProfileCommand::Delete(args)) | Command::DeleteProfile(args) => profile::delete(args),
        Command::Profile(ProfileCommand::Export(args)) | Command::ExportProfile(args) => profile::export(args),
        Command::Profile(ProfileCommand::Import(args)) | Command::ImportProfile(args) => profile::import(args),
        Command::Profile(ProfileCommand::Prune(args)) => profile::prune(args),
        Command::Report(args) => report::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man => docs::man(),
        Command::UpdateProfile(args) => learn::run(args.into_learn()),
        Command::ScoreRequest(args) => score::run(args.into_score()),
    }
}

/// The exit status of a run that read records: 2 when an input could not be read to its end.
fn status(report: &crate::report::Report) -> ExitCode {
    if report.summary.failed_inputs > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS }
}
