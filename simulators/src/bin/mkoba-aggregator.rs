fn main() {
    eprintln!("mkoba-aggregator: not built yet");
    std::process::exit(2);
}
