//! The `pxtrack` binary: parse the command line, run the command, map the outcome to an exit
//! code: 0 done; 1 done, but some input was missing or not a log; 2 error, nothing written. A
//! closed stdout (`pxtrack mint ... | head -1`) is not an error.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(cmd::Outcome::Done) => ExitCode::SUCCESS,
        Ok(cmd::Outcome::Incomplete) => ExitCode::from(1),
        Err(err) => {
            if err
                .chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "pxtrack: error: {}",
                cmd::terminal_safe(&format!("{err:#}"))
            );
            ExitCode::from(2)
        }
    }
}
