//! `atocore-backup`: glue between the command line and backup-core. The only crate that prints.

mod cli;
mod commands;
mod components;
mod exit_codes;
mod sample;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let negative = e
                .chain()
                .filter_map(|c| c.downcast_ref::<backup_core::Error>())
                .any(backup_core::Error::is_negative_answer);
            ExitCode::from(if negative {
                exit_codes::NO
            } else {
                exit_codes::ERROR
            })
        }
    }
}
