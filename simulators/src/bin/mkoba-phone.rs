fn main() {
    eprintln!("mkoba-phone: not built yet");
    std::process::exit(2);
}
