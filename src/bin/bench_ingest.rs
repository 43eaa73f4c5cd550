fn main() {
    eprintln!("bench-ingest: not written yet");
}
