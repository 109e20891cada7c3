//! yoz-train: overfits the neural image codec (yoz::neural::arch) to images. Thin: the work is
//! in the library (`yoz_train::cli::run`).
use clap::Parser;

fn main() {
    let args = yoz_train::cli::Args::parse();
    if let Err(e) = yoz_train::cli::run(args) {
        eprintln!("yoz-train: {e}");
        // Usage errors exit 2 like clap's own; everything else 1.
        let code = if matches!(e, yoz::Error::Usage(_)) {
            2
        } else {
            1
        };
        std::process::exit(code);
    }
}
