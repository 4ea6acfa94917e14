//! `keywatcher completions SHELL` and `keywatcher man`: the command line, described for a shell's
//! completion and for `man`, both generated from the clap definitions so they cannot drift from them, and
//! written to stdout. The manual is one page: the program, then a section per subcommand (`profile`'s own
//! subcommands among them) with its synopsis, description, flags and examples.

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
    let mut command = Cli::command().disable_help_subcommand(true);
    // Gives every subcommand its full name (`keywatcher profile show`) for its synopsis.
    command.build();
    let man = clap_mangen::Man::new(command.clone());
    let mut title = Vec::new();
    man.render_title(&mut title).context("cannot render the manual page")?;
    let mut page = String::from_utf8(title).context("the manual page is not UTF-8")?;
    for render in [
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ] {
        page.push_str(&roff(&man, render)?);
    }
    page.push_str(".SH COMMANDS\n");
    subcommands(&mut page, &command)?;
    page.push_str(&examples(&roff(&man, clap_mangen::Man::render_extra_section)?, ".SH EXAMPLES"));
    page.push_str(&roff(&man, clap_mangen::Man::render_version_section)?);
    print(page.as_bytes())
}

/// Appends a section for each visible subcommand of `parent`, then for its own subcommands in turn: a
/// heading with the full command, what it does, its synopsis, its flags, its examples.
fn subcommands(page: &mut String, parent: &clap::Command) -> Result<()> {
    for command in parent.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = command.get_bin_name().unwrap_or(command.get_name());
        page.push_str(&format!(".SS \"{}\"\n", name.replace('-', "\\-")));
        let man = clap_mangen::Man::new(command.clone());
        page.push_str(&demoted(&roff(&man, clap_mangen::Man::render_description_section)?, None));
        page.push_str(&demoted(&roff(&man, clap_mangen::Man::render_synopsis_section)?, None));
        if command.get_arguments().any(|arg| !arg.is_hide_set()) {
            page.push_str(&demoted(&roff(&man, clap_mangen::Man::render_options_section)?, Some("Options:")));
        }
        if command.get_after_help().is_some() {
            page.push_str(&examples(&roff(&man, clap_mangen::Man::render_extra_section)?, ".PP"));
        }
        subcommands(page, command)?;
    }
    Ok(())
}

/// One section of a page rendered by clap_mangen.
fn roff(
    man: &clap_mangen::Man,
    render: fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<String> {
    let mut out = Vec::new();
    render(man, &mut out).context("cannot render the manual page")?;
    // clap_mangen starts every render with the same preamble defining a quote string; the title keeps it.
    let text = String::from_utf8(out).context("the manual page is not UTF-8")?;
    Ok(text.split_once(".el .ds Aq '\n").map_or(text.clone(), |(_, section)| section.to_string()))
}

/// A section's content under a subcommand's heading: its `.SH` line dropped, or turned into a paragraph
/// with a label.
fn demoted(section: &str, label: Option<&str>) -> String {
    let (_, body) = section.split_once('\n').unwrap_or(("", section));
    match label {
        Some(label) => format!(".PP\n{label}\n{body}"),
        None => format!(".PP\n{body}"),
    }
}

/// The examples (clap's after-help text) as written, one per line, under `heading` instead of `.SH EXTRA`.
fn examples(section: &str, heading: &str) -> String {
    let (_, body) = section.split_once('\n').unwrap_or(("", section));
    format!("{heading}\n.nf\n{body}.fi\n")
}

fn print(bytes: &[u8]) -> Result<ExitCode> {
    let mut out = emit::stdout();
    out.write_all(bytes).and_then(|()| out.flush()).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
