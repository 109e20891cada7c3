//! Progress bars: drawn on stderr when it is a terminal and asked for, hidden otherwise (so
//! piped and scripted runs stay quiet).

/// A byte-count progress bar labelled `verb`, or a hidden one when `show` is false.
pub fn bytes_bar(show: bool, total: u64, verb: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(total);
    let template = format!(
        "{{spinner}} {verb} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        b.set_style(style.progress_chars("=> "));
    }
    b
}
