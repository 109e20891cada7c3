//! `yoz completions SHELL` and `yoz man`: shell completions and a man page generated from the
//! same clap definitions the parser uses, so they cannot drift from the real options.

use crate::error::{Error, IoContext, Result};
use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write `yoz.1` and one `yoz-SUBCOMMAND.1` per subcommand into DIR instead of printing
    /// `yoz.1` on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

pub fn completions(a: CompletionsArgs) -> Result<()> {
    let mut cmd = super::Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "yoz", &mut out);
    std::io::Write::flush(&mut out).ctx(|| "writing completions".into())
}

pub fn man(a: ManArgs) -> Result<()> {
    let cmd = super::Cli::command();
    match a.out {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout().lock())
            .ctx(|| "writing the man page".into()),
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "--out {}: not a directory",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(cmd, &dir)
                .ctx(|| format!("writing man pages into {}", dir.display()))
        }
    }
}
