fn main() -> std::process::ExitCode {
    mkoba::cli::main()
}
