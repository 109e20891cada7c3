//! Progress bars: drawn on stderr when it is a terminal and asked for, hidden otherwise (so
//! piped and scripted runs stay quiet). Without the `cli` feature there is nothing to draw
//! with and every bar is hidden.

/// A byte-count progress bar, possibly hidden. Clones draw the same bar.
#[derive(Clone)]
pub struct Bar {
    #[cfg(feature = "cli")]
    inner: indicatif::ProgressBar,
}

impl Bar {
    /// Advances the bar by `n` bytes.
    pub fn inc(&self, _n: u64) {
        #[cfg(feature = "cli")]
        self.inner.inc(_n);
    }

    /// Removes the bar from the terminal.
    pub fn finish_and_clear(&self) {
        #[cfg(feature = "cli")]
        self.inner.finish_and_clear();
    }
}

/// A byte-count progress bar labelled `verb`, or a hidden one when `show` is false.
pub fn bytes_bar(show: bool, total: u64, verb: &str) -> Bar {
    #[cfg(feature = "cli")]
    {
        if !show {
            return Bar {
                inner: indicatif::ProgressBar::hidden(),
            };
        }
        let b = indicatif::ProgressBar::new(total);
        let template = format!(
            "{{spinner}} {verb} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            b.set_style(style.progress_chars("=> "));
        }
        Bar { inner: b }
    }
    #[cfg(not(feature = "cli"))]
    {
        let _ = (show, total, verb);
        Bar {}
    }
}
