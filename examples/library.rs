//! yoz as a library: write an archive into memory with `Builder`, then read it back two ways —
//! random access (`Archive`) and as a stream (`read_stream`, what a pipe gets).
//!
//! `cargo run --example library`

use std::io::Read;
use yoz::container::{read_stream, Sink};
use yoz::{Archive, Builder, Entry, Meta};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = Builder::new(Vec::new())?;
    b.append_dir("notes", &Meta::default().mode(0o755))?;
    b.append_data(
        "notes/todo.txt",
        b"write the spec first\n",
        &Meta::default(),
    )?;
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    b.append_data("data/big.bin", &big, &Meta::default())?;
    b.append_symlink("latest", "notes/todo.txt", &Meta::default())?;
    let bytes = b.finish()?;
    println!(
        "archive: {} bytes for {} bytes of files",
        bytes.len(),
        big.len() + 21
    );

    // Random access: the index is validated when the archive is opened.
    let ar = Archive::from_bytes(bytes.clone(), Default::default())?;
    for e in ar.entries() {
        println!("  {:?} {} ({} bytes)", e.kind, e.path, e.size);
    }
    let mut todo = String::new();
    ar.open_entry("notes/todo.txt")?.read_to_string(&mut todo)?;
    assert_eq!(todo, "write the spec first\n");

    // Streaming: entries arrive in archive order, every block checked as it goes.
    struct Count(u64);
    impl Sink for Count {
        fn begin(&mut self, _: &Entry) -> yoz::Result<()> {
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) -> yoz::Result<()> {
            self.0 += bytes.len() as u64;
            Ok(())
        }
        fn copy(&mut self, _: &Entry) -> yoz::Result<bool> {
            Ok(false)
        }
        fn end(&mut self, _: &Entry) -> yoz::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let sum = read_stream(&bytes[..], &mut count, Default::default())?;
    println!(
        "streamed {} entries, {} bytes of content",
        sum.entries, count.0
    );
    assert_eq!(count.0, big.len() as u64 + 21);
    Ok(())
}
