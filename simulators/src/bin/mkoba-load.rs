fn main() {
    eprintln!("mkoba-load: not built yet");
    std::process::exit(2);
}
