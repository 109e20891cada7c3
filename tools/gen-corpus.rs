//! Regenerates the conformance corpus and the spec's appendix B from
//! `src/conformance/vectors.rs`: `cargo run --example gen-corpus -- corpus spec`.

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| "corpus".into());
    let spec = args.next().unwrap_or_else(|| "spec".into());
    let res = yoz::conformance::generate(std::path::Path::new(&root)).and_then(|(v, i, readme)| {
        let appendix = std::path::Path::new(&spec).join("appendix-b-vectors.md");
        let text = format!(
            "# Appendix B. Conformance vectors (yoz 1.0 to 1.6)\n\n{}",
            readme.split_once("\n\n").map_or("", |x| x.1)
        );
        std::fs::write(&appendix, text).map_err(|e| yoz::Error::io("writing appendix B", e))?;
        Ok((v, i))
    });
    match res {
        Ok((v, i)) => println!("wrote {v} valid and {i} invalid vectors under {root}, and {spec}/appendix-b-vectors.md"),
        Err(e) => {
            eprintln!("gen-corpus: error[{}]: {e}", e.class());
            std::process::exit(1);
        }
    }
}
