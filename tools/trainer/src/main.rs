//! yoz-train: overfits the neural image codec (yoz::neural::arch) to images. Thin: the work is
//! in the library (`yoz_train::cli::run`).
use clap::Parser;

fn main() {
    let args = yoz_train::cli::Args::parse();
    if let Err(e) = yoz_train::cli::run(args) {
        eprintln!("yoz-train: {e}");
        std::process::exit(1);
    }
}
