//! yoz-train: overfits the neural image codec (yoz::neural::arch) to images.
fn main() {
    eprintln!("yoz-train: not built yet");
    std::process::exit(1);
}
