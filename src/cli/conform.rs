//! `yoz conform`: runs the conformance corpus against yoz or another implementation.

use super::PathArg;
use crate::conformance::runner::{report, run_corpus};
use crate::error::{Error, IoContext, Result};

#[derive(clap::Args, Debug)]
pub struct ConformArgs {
    /// The implementation to test, as a command line (default: this yoz). It must offer
    /// `verify FILE|-` and `unpack -C DIR FILE|-` and print `error[CLASS]` on failure.
    #[arg(long = "impl", value_name = "CMD")]
    pub implementation: Option<String>,
    /// Print every check, not only the failures.
    #[arg(short, long)]
    pub verbose: bool,
    /// The corpus directory (with valid/ and invalid/).
    pub corpus: PathArg,
}

pub fn run(a: ConformArgs) -> Result<()> {
    let cmd: Vec<String> = match &a.implementation {
        Some(c) => c.split_whitespace().map(str::to_string).collect(),
        None => vec![std::env::current_exe()
            .ctx(|| "locating this executable".into())?
            .to_string_lossy()
            .into_owned()],
    };
    if cmd.is_empty() {
        return Err(Error::Usage("--impl is empty".into()));
    }
    let outcomes = run_corpus(&cmd, &a.corpus)?;
    let failed = report(&outcomes, &mut std::io::stdout().lock(), a.verbose);
    if failed > 0 {
        return Err(Error::Failed {
            what: format!("{failed} conformance checks failed"),
        });
    }
    Ok(())
}
